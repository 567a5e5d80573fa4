"""Housekeeping jobs of the project (Celery), run periodically by `celery -A shop beat`."""

from celery import shared_task

from shop import ratelimit
from shop.idempotency import expire_keys


@shared_task(name="shop.expire_idempotency_keys")
def expire_idempotency_keys():
    """Deletes `Idempotency-Key` records past their 24 hours."""
    return expire_keys()


@shared_task(name="shop.purge_rate_counters")
def purge_rate_counters():
    """Deletes the rate-limit counters of the database whose window has ended."""
    return ratelimit.purge_expired()
