"""Rate limits for the two doors open to anonymous clients: sign-up and token requests."""

from django.core.cache import caches
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ClientAddressThrottle(SimpleRateThrottle):
    """Limits requests per client address, at the rate named by `scope`.

    The rate is read on each request, so `DEFAULT_THROTTLE_RATES` stays the one
    place to change it (and tests can override it). `signed_in_exempt` lets
    signed-in users through unlimited.
    """

    signed_in_exempt = False

    @property
    def cache(self):
        """The database cache (`CACHES["throttle"]`): one count for all workers and hosts."""
        return caches["throttle"]

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if self.signed_in_exempt and request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupThrottle(ClientAddressThrottle):
    """Anonymous sign-ups; staff (the only signed-in users allowed to) create customers freely."""

    scope = "signup"
    signed_in_exempt = True


class TokenThrottle(ClientAddressThrottle):
    """Every password guess counts, whatever token the request also carries."""

    scope = "token"
