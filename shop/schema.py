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
