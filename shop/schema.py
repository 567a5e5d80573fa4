"""OpenAPI details drf-spectacular cannot guess: the token scheme, canonical paths, errors."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from shop.exports import CSVRenderer


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The one way API clients sign in, and so the one scheme of the docs' Authorize dialog."""

    target_class = "shop.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Type `Token <your token>`: the word Token, a space, then a token "
            "from `POST /auth/token` (or `manage.py issue_token`).",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """Sessions are not documented: they are the admin's and the browsable API's.

    A browser signed in to the admin sends its session cookie by itself; a value
    typed for a cookie scheme in the docs' Authorize dialog is never sent as the
    `Authorization` header, so offering one there only misleads (a token typed in
    it answers 401). Unsafe methods over a session also need a CSRF token, which
    API clients do not have.
    """

    target_class = "shop.authentication.SessionAuthentication"
    name = []  # no scheme of its own in `components.securitySchemes`

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []


def canonical_paths(endpoints, **kwargs):
    """Documents each route once, without the optional trailing slash (`/users/{id}`)."""
    return [
        (path.rstrip("/") or "/", path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


PAGINATION_HEADERS = {
    "X-Total-Count": {
        "schema": {"type": "integer"},
        "description": "How many rows the whole list has, over all pages: exact up to 1,000, "
        "PostgreSQL's estimate past that (then `X-Total-Count-Estimated` is `true`).",
    },
    "X-Total-Count-Estimated": {
        "schema": {"type": "boolean"},
        "description": "`true` when `X-Total-Count` is an estimate; absent when it is exact.",
    },
    "Link": {
        "schema": {"type": "string"},
        "description": "RFC 8288 links to the `first`, `prev`, `next` and `last` pages: page "
        "numbers, or `cursor` positions for a list of more than 1,000 rows.",
    },
}


def pagination_headers(result, generator, request, public):
    """Documents the headers that carry the pagination of every list."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            ok = (
                operation.get("responses", {}).get("200", {}) if isinstance(operation, dict) else {}
            )
            schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref", "").startswith("#/components/schemas/Paginated"):
                ok.setdefault("headers", {}).update(PAGINATION_HEADERS)
    return result


# --- The error responses every operation can give (errors are JSON) ----------------------

ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})
DeletedSerializer = inline_serializer(
    "Deleted", {"id": serializers.IntegerField(), "detail": serializers.CharField()}
)

VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": '`{"detail": …}`, or DRF\'s map of each field (or `non_field_errors`) '
    "to its messages.",
    "minProperties": 1,
    "additionalProperties": {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {}},
            {"type": "object"},
        ]
    },
}


CSV_BODY = {
    "type": "string",
    "description": "Every matching row (not a page: filters apply, pagination does not), "
    "streamed: a header row, then one row per object with the JSON object's fields. "
    "RFC 4180, UTF-8. Ask with `Accept: text/csv` or `?format=csv`.",
}


def error(description):
    return OpenApiResponse(ErrorSerializer, description=description)


UNAUTHORIZED = error("No credentials, or a token that is wrong, expired or revoked.")
FORBIDDEN = error(
    "Signed in, but not allowed (staff only, or not in the staff member's role; CSRF for "
    "session clients)."
)
NOT_FOUND = error("No such object (or not yours), or a page past the end.")
UNSUPPORTED = error("The body's content type is not accepted.")
THROTTLED = error("Too many requests; `Retry-After` says when to try again.")
CONFLICT = error("The request conflicts with the current state.")
STILL_RUNNING = error("A request with this Idempotency-Key is still being processed.")
KEY_REUSED = error("This Idempotency-Key was used for a different request.")
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Any unique string (a UUID): a retry with the same key and body within 24 "
    "hours replays the first answer and creates nothing new.",
}
TOO_LARGE = error("The upload is larger than the limit.")


def csv_bodies(responses):
    """A list that exports (`shop.exports`) answers CSV text on success; its errors are JSON."""
    for code, response in responses.items():
        content = response.get("content", {})
        if CSVRenderer.media_type not in content:
            continue
        if str(code).startswith("2"):
            content[CSVRenderer.media_type] = {"schema": CSV_BODY}
        else:
            del content[CSVRenderer.media_type]


class ShopAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the JSON error answers any operation can give.

    Path ids are documented as the integers they are. The errors are declared once
    here rather than on each view: 401 and 403 everywhere (a bad token
    is 401 even on public reads), 400 where the client sends a body or query
    parameters, 404 where a path names an object or a list has pages, 415 where
    there is a body, 429 where a throttle applies. A view's own `extend_schema`
    responses win.
    """

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            # Routes take any segment so that `/users/abc` is a JSON 404; ids are integers.
            if parameter["in"] == "path" and parameter["schema"].get("pattern") == "^[^/]+$":
                parameter["schema"] = {"type": "integer"}
        has_body = "requestBody" in operation
        where = {parameter["in"] for parameter in parameters}
        names = {parameter["name"] for parameter in parameters}
        filters = names - {"page", "page_size"}  # a nonsense page size falls back to the default
        errors = {"401": UNAUTHORIZED, "403": FORBIDDEN}
        if has_body or any(p["in"] == "query" and p["name"] in filters for p in parameters):
            errors["400"] = self.validation_error()
            # A view's own 400 (e.g. a file that cannot be imported) comes on top of DRF's.
            own = responses.get("400", {}).get("content", {}).get("application/json")
            if own and own["schema"] != errors["400"]["content"]["application/json"]["schema"]:
                own["schema"] = {
                    "anyOf": [own["schema"], errors["400"]["content"]["application/json"]["schema"]]
                }
        if "path" in where or "page" in names:
            errors["404"] = NOT_FOUND
        if has_body:
            errors["415"] = UNSUPPORTED
        if self.throttled():
            errors["429"] = THROTTLED
        if self.honours_idempotency_key():
            operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            errors["409"] = STILL_RUNNING
            errors["422"] = KEY_REUSED
        for code, response in sorted(errors.items()):
            if code not in responses:
                if isinstance(response, dict):
                    responses[code] = response
                else:
                    responses[code] = self._get_response_for_code(response, code)
        operation["responses"] = dict(sorted(responses.items()))
        csv_bodies(operation["responses"])
        return operation

    def honours_idempotency_key(self):
        handler = getattr(self.view, getattr(self.view, "action", None) or "", None)
        return getattr(handler, "honours_idempotency_key", False)

    def validation_error(self):
        component = ResolvedComponent(
            name="ValidationError",
            type=ResolvedComponent.SCHEMA,
            schema=VALIDATION_ERROR_SCHEMA,
            object="ValidationError",
        )
        self.registry.register_on_missing(component)
        return {
            "description": "The request is invalid (malformed JSON, a field or a parameter).",
            "content": {"application/json": {"schema": component.ref}},
        }

    def throttled(self):
        """A DRF throttle, or a password check (the sign-in limits: `checks_passwords`)."""
        action = getattr(self.view, "action", None) or self.method.lower()
        if action in getattr(self.view, "checks_passwords", ()):
            return True
        try:
            return bool(self.view.get_throttles())
        except Exception:  # a view whose throttles depend on a real request
            return bool(getattr(self.view, "throttle_classes", None))
