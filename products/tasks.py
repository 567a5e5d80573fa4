"""Background jobs of the products app (Celery): thin wrappers around `products.backfill`."""

import logging

from celery import shared_task

from products.backfill import run_queued
from products.backfill.runs import sweep_stale_runs

logger = logging.getLogger(__name__)


@shared_task(name="products.run_backfill")
def run_backfill_job(run_id):
    """Imports a queued upload; the run's record says how it went (no result is kept)."""
    run = run_queued(run_id)
    if run is None:
        return None
    # In the worker's log, under the id of the request that queued it (`shop.requestid`).
    logger.info(
        "Backfill run %s ended %s: %s rows read, %s created, %s updated, %s rejected.",
        run.pk,
        run.status,
        run.rows,
        run.created,
        run.updated,
        run.rejected,
    )
    return run.status


@shared_task(name="products.sweep_stale_backfill_runs")
def sweep_stale_backfill_runs():
    """Marks failed the runs whose process died or that no worker took (periodic)."""
    return sweep_stale_runs()
