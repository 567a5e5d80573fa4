"""API token authentication: knox's hashed, revocable tokens, hardened against junk headers."""

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication as DrfSessionAuthentication

from shop.permissions import is_staff


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

    def _cleanup_token(self, auth_token):
        """Refuses (and deletes) the presented token if it has expired.

        knox also sweeps every other expired token of the user here, which is one
        more query on every request; an expired token is refused whenever it is
        presented anyway, and the sweep is done when a token is issued instead
        (`users.views.TokenView`).
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class SessionAuthentication(DrfSessionAuthentication):
    """DRF's session authentication (the admin's session, for the browsable API), for staff
    only once they have passed the second factor: a staff session that has only given its
    password is anonymous here, as the admin treats it (`shop.admin_site`)."""

    def authenticate(self, request):
        answer = super().authenticate(request)
        if answer is None:
            return None
        user, _ = answer
        verified = getattr(request._request.user, "is_verified", None)
        if is_staff(user) and not (verified and verified()):
            return None
        return answer
