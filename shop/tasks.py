"""Housekeeping jobs of the project (Celery), run periodically by `celery -A shop beat`."""

from celery import shared_task

from shop.idempotency import expire_keys


@shared_task(name="shop.expire_idempotency_keys")
def expire_idempotency_keys():
    """Deletes `Idempotency-Key` records past their 24 hours."""
    return expire_keys()
