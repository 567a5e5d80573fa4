"""Rate limits for the two doors open to anonymous clients: sign-up and token requests."""

from django.core.cache import caches
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class AnonymousScopeThrottle(SimpleRateThrottle):
    """Limits anonymous requests per client address, at the rate named by `scope`.

    Signed-in users are not limited here (staff create customers in bulk). The
    rate is read on each request, so `DEFAULT_THROTTLE_RATES` stays the one
    place to change it (and tests can override it).
    """

    @property
    def cache(self):
        """The database cache (`CACHES["throttle"]`): one count for all workers and hosts."""
        return caches["throttle"]

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignupThrottle(AnonymousScopeThrottle):
    scope = "signup"


class TokenThrottle(AnonymousScopeThrottle):
    scope = "token"
