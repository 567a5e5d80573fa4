"""DRF throttles of the API, on the exact counters of `shop.ratelimit`.

Password checks are limited where they are made (`users.sign_in`), for the API and
the admin alike; this is the one limit that is only the API's.
"""

from shop.ratelimit import AddressThrottle


class SignupThrottle(AddressThrottle):
    """Anonymous sign-ups per client address (`SHOP_SIGNUP_RATE`); staff, the only signed-in
    users allowed to create accounts, are not limited."""

    scope = "signup"
    rate_setting = "SHOP_SIGNUP_RATE"

    def allow_request(self, request, view):
        if request.user and request.user.is_authenticated:
            return True
        return super().allow_request(request, view)
