"""API token authentication: knox's hashed, revocable tokens, hardened against junk headers."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <token>`; tokens are stored as SHA-512 digests.

    knox decodes the header as UTF-8 without a guard: a header with other bytes
    would be a 500. Here it is the same 401 as any other wrong token.
    """

    def authenticate_credentials(self, token):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
