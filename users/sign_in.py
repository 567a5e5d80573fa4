"""Sign-in limits: every password check counts against its account and its client address.

One rate (`SHOP_TOKEN_RATE`, 30/minute) per account and per client address, shared by
every door that checks a password (`POST /auth/token`, the admin's login, the current
password of a password change in the API and in the admin), counted exactly on every
instance (`shop.ratelimit`). A check is counted before it is made, so that a hundred
guesses at once check no more than the rate; a refused one checks nothing.

A door that checks another secret for an account (a second factor, later) calls
`count_attempt(email, address)` before checking it, and so shares these limits.
"""

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate

from shop import ratelimit
from shop.errors import RateLimited
from users.models import email_key

TOO_MANY = "Too many sign-in attempts; try again in {seconds} seconds."


def count_attempt(email, address):
    """Counts one check of a secret of the account `email` (any case or form, known or not)
    made from `address`; raises `RateLimited` when the address or the account has used up
    its attempts for the current window."""
    rate = ratelimit.Rate.parse(settings.SHOP_TOKEN_RATE)
    # The address first: a client already refused does not use up the account's attempts.
    account = hashlib.sha256(email_key(email).encode()).hexdigest()[:40]
    for bucket in (f"sign-in:address:{address}", f"sign-in:account:{account}"):
        verdict = ratelimit.hit(bucket, rate)
        if not verdict.allowed:
            raise RateLimited(
                TOO_MANY.format(seconds=verdict.retry_after), retry_after=verdict.retry_after
            )


def authenticate_limited(request, *, email, password):
    """Django's `authenticate` for `email` and `password`, counted (`count_attempt`):
    the user, or None for wrong credentials; `RateLimited` past the limits."""
    count_attempt(email, ratelimit.client_address(request))
    return authenticate(request, email=email, password=password)
