"""Rate limits that hold exactly under concurrency, on every process and host at once.

A limit is a rate, `"20/hour"` (`Rate`), applied to a bucket: a string naming what
is counted (`"sign-in:address:203.0.113.9"`). `hit(bucket, rate)` counts one request
in one atomic step of the shared store and says whether it is within the limit, so
that a hundred requests arriving at once on several instances let exactly `limit`
through, never more.

What "20/hour" means: a bucket's first request opens a window of one hour; the
window admits 20 requests; later ones are refused until it ends, and `Retry-After`
is the whole seconds left in it (rounded up). The first request after the end opens
the next window. (A fixed window from the first request: at most 20 in any window,
up to twice that around the instant one window ends and the next opens.)

The shared store is Redis when `SHOP_RATE_LIMIT_REDIS_URL` names one (`INCR` and its
expiry in one Lua script), else the database (one `INSERT … ON CONFLICT DO UPDATE …
RETURNING` per request: PostgreSQL, or SQLite 3.35 or later). A Redis that fails is
logged and the database counts meanwhile. Expired database counters are deleted by the
periodic task `shop.purge_rate_counters`; Redis expires its own.
"""

import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from shop import metrics
from shop.models import RateCounter

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d)[a-z]*\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    """`limit` requests per window of `seconds`."""

    limit: int
    seconds: int

    @classmethod
    def parse(cls, text):
        """`"20/hour"`, `"30/minute"`, `"5/10s"`, `"100/day"` → `Rate`; `ValueError` otherwise."""
        match = RATE.fullmatch(text or "")
        if match is None:
            raise ValueError(f"Not a rate: {text!r} (write it as 20/hour, 30/minute, 5/10s).")
        count, multiple, unit = match.groups()
        return cls(int(count), int(multiple or 1) * PERIODS[unit.lower()])


@dataclass(frozen=True)
class Verdict:
    """What `hit` found: the bucket's count in its window, and the seconds left in it."""

    allowed: bool
    count: int
    retry_after: int


def hit(bucket, rate):
    """Counts one request in `bucket` and says whether it is within `rate` (`Verdict`).

    Counted, whatever the answer: a refused request counts too (it does not extend the
    window). Call it outside a transaction, or the counter's row stays locked until it ends.
    """
    now = time.time()
    try:
        count, ends = _store().count(bucket, now, rate.seconds)
    except RedisUnavailable as error:
        _redis_failed(error)
        count, ends = DatabaseCounters().count(bucket, now, rate.seconds)
    verdict = Verdict(count <= rate.limit, count, max(1, math.ceil(ends - now)))
    if not verdict.allowed:
        refused(bucket, verdict)
    return verdict


def refused(bucket, verdict):
    """Every request a limit refuses passes here (one place to count them)."""
    metrics.rate_limit_refused(bucket)
    logger.info(
        "Rate limit: refused %s (%s in its window, %s s left).",
        bucket,
        verdict.count,
        verdict.retry_after,
    )


def purge_expired():
    """Deletes the database counters whose window has ended; returns how many."""
    deleted, _ = RateCounter.objects.filter(window_ends__lt=time.time()).delete()
    return deleted


def client_address(request):
    """The client's address, trusting `X-Forwarded-For` only as far as `NUM_PROXIES` says
    (DRF's rule, for Django's requests and DRF's alike)."""
    return BaseThrottle().get_ident(request)


class AddressThrottle(BaseThrottle):
    """A DRF throttle: requests per client address at the rate of the setting `rate_setting`."""

    scope = None
    rate_setting = None

    def allow_request(self, request, view):
        rate = Rate.parse(getattr(settings, self.rate_setting))
        self.verdict = hit(f"{self.scope}:address:{client_address(request)}", rate)
        return self.verdict.allowed

    def wait(self):
        return self.verdict.retry_after


# --- The stores -----------------------------------------------------------------------


class RedisUnavailable(Exception):
    """Redis could not be asked (down, unreachable, timed out)."""


def _store():
    url = getattr(settings, "SHOP_RATE_LIMIT_REDIS_URL", "")
    return RedisCounters.for_url(url) if url else DatabaseCounters()


class DatabaseCounters:
    """Counters in the table `shop_ratecounter`: one row per bucket, changed by one upsert.

    The `INSERT … ON CONFLICT DO UPDATE` takes the row's lock, so concurrent requests
    on one bucket are counted one after another and each reads the count it made.
    """

    SQL = """
        INSERT INTO shop_ratecounter (bucket, hits, window_ends) VALUES (%s, 1, %s)
        ON CONFLICT (bucket) DO UPDATE SET
            hits = CASE WHEN shop_ratecounter.window_ends <= %s THEN 1
                        ELSE shop_ratecounter.hits + 1 END,
            window_ends = CASE WHEN shop_ratecounter.window_ends <= %s THEN excluded.window_ends
                               ELSE shop_ratecounter.window_ends END
        RETURNING hits, window_ends
    """

    def count(self, bucket, now, seconds):
        """`(count in the current window, when it ends)` after counting one more."""
        with connection.cursor() as cursor:
            cursor.execute(self.SQL, [bucket, now + seconds, now, now])
            hits, ends = cursor.fetchone()
        return hits, ends


class RedisCounters:
    """Counters in Redis: `INCR`, and the window's expiry set by the request that opened it,
    in one Lua script (atomic in Redis)."""

    SCRIPT = """
        local hits = redis.call('INCR', KEYS[1])
        local left = redis.call('PTTL', KEYS[1])
        if hits == 1 or left < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
            left = tonumber(ARGV[1])
        end
        return {hits, left}
    """
    PREFIX = "shop:rate:"
    _by_url = {}

    @classmethod
    def for_url(cls, url):
        if url not in cls._by_url:
            cls._by_url[url] = cls(url)
        return cls._by_url[url]

    def __init__(self, url):
        import redis

        self.errors = (redis.RedisError, OSError)
        # Short timeouts: a Redis that hangs costs a request a second, then the database counts.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.script = self.client.register_script(self.SCRIPT)

    def count(self, bucket, now, seconds):
        try:
            hits, left_ms = self.script(keys=[self.PREFIX + bucket], args=[int(seconds * 1000)])
        except self.errors as error:
            raise RedisUnavailable(str(error)) from error
        return int(hits), now + int(left_ms) / 1000


def _redis_failed(error):
    """Every time Redis fails a count passes here (one place to count them)."""
    logger.warning("Rate limits: Redis cannot be used (%s); the database counts.", error)
