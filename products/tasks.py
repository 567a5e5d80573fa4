"""Background jobs of the products app (Celery): thin wrappers around `products.backfill`."""

from celery import shared_task

from products.backfill import run_queued
from products.backfill.runs import sweep_stale_runs


@shared_task(name="products.run_backfill")
def run_backfill_job(run_id):
    """Imports a queued upload; the run's record says how it went (no result is kept)."""
    run = run_queued(run_id)
    return run.status if run is not None else None


@shared_task(name="products.sweep_stale_backfill_runs")
def sweep_stale_backfill_runs():
    """Marks failed the runs whose process died or that no worker took (periodic)."""
    return sweep_stale_runs()
