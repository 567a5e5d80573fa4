"""The counters of `shop.ratelimit`: what a rate means, its window, Retry-After, the stores."""

import logging
import time

import pytest

from shop import ratelimit
from shop.models import RateCounter
from shop.ratelimit import Rate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/hour", Rate(20, 3600)),
        ("30/minute", Rate(30, 60)),
        ("5/10s", Rate(5, 10)),
        ("100/day", Rate(100, 86400)),
        ("1/second", Rate(1, 1)),
    ],
)
def test_rates_are_written_as_a_count_per_period(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "20", "hour", "20/fortnight", "-1/hour", "1.5/hour"])
def test_anything_else_is_not_a_rate(text):
    with pytest.raises(ValueError, match="Not a rate"):
        Rate.parse(text)


def test_a_window_admits_the_limit_then_refuses_with_the_seconds_left():
    verdicts = [ratelimit.hit("test:a", Rate(3, 60)) for _ in range(5)]

    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.count for v in verdicts] == [1, 2, 3, 4, 5]
    assert all(55 <= v.retry_after <= 60 for v in verdicts)


def test_buckets_are_counted_apart():
    ratelimit.hit("test:a", Rate(1, 60))

    assert ratelimit.hit("test:b", Rate(1, 60)).allowed


def test_the_first_request_after_a_window_ends_opens_the_next():
    for _ in range(3):
        ratelimit.hit("test:a", Rate(2, 60))
    RateCounter.objects.filter(bucket="test:a").update(window_ends=time.time() - 1)

    verdict = ratelimit.hit("test:a", Rate(2, 60))

    assert (verdict.allowed, verdict.count) == (True, 1)
    assert verdict.retry_after >= 59


def test_expired_counters_are_purged_and_live_ones_kept():
    ratelimit.hit("test:old", Rate(2, 60))
    ratelimit.hit("test:live", Rate(2, 60))
    RateCounter.objects.filter(bucket="test:old").update(window_ends=time.time() - 1)

    assert ratelimit.purge_expired() == 1
    assert list(RateCounter.objects.values_list("bucket", flat=True)) == ["test:live"]


def test_the_periodic_task_purges():
    from shop.tasks import purge_rate_counters

    ratelimit.hit("test:old", Rate(2, 60))
    RateCounter.objects.update(window_ends=time.time() - 1)

    assert purge_rate_counters() == 1


def test_with_redis_configured_the_counts_are_in_redis(settings, redis_url):
    settings.SHOP_RATE_LIMIT_REDIS_URL = redis_url

    verdicts = [ratelimit.hit("test:r", Rate(2, 60)) for _ in range(3)]

    assert [v.allowed for v in verdicts] == [True, True, False]
    assert 55 <= verdicts[-1].retry_after <= 60
    assert not RateCounter.objects.exists()


def test_a_redis_that_fails_is_logged_and_the_database_counts(settings, caplog):
    settings.SHOP_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="shop.ratelimit"):
        verdicts = [ratelimit.hit("test:f", Rate(1, 60)) for _ in range(2)]

    assert [v.allowed for v in verdicts] == [True, False]
    assert "Redis cannot be used" in caplog.text
    assert RateCounter.objects.get(bucket="test:f").hits == 2
