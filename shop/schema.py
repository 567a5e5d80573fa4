"""OpenAPI details drf-spectacular cannot guess: our token scheme and the canonical paths."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "shop.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Send `Token <token>`; get one from `POST /auth/token`.",
        }


def canonical_paths(endpoints, **kwargs):
    """Documents each route once, without the optional trailing slash (`/users/{id}`)."""
    return [
        (path.rstrip("/") or "/", path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


PAGINATION_HEADERS = {
    "X-Total-Count": {
        "schema": {"type": "integer"},
        "description": "How many rows the whole list has, over all pages.",
    },
    "Link": {
        "schema": {"type": "string"},
        "description": "RFC 8288 links to the `first`, `prev`, `next` and `last` pages.",
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
