"""Queueing an uploaded file for a worker: what the API's `POST` and the admin call.

Kept apart from the importer (`products.backfill`) because it knows the Celery
task, which itself calls the importer.
"""

import threading

from django.conf import settings
from django.db import connections
from kombu.exceptions import OperationalError as BrokerUnreachable

from products.backfill import uploads
from products.backfill.locks import lock_is_held
from products.backfill.reader import ProductCsvReader
from products.backfill.runs import finish_run, queue_run, start_run, started_by
from products.models import BackfillRun
from products.tasks import run_backfill_job
from shop.celery import jobs_run_eagerly
from shop.errors import BackfillFileError, BackfillLocked, PayloadTooLarge, QueueUnavailable

Status = BackfillRun.Status


def refuse_if_too_large(size):
    """`PayloadTooLarge` for a file of `size` bytes past `SHOP_BACKFILL_MAX_UPLOAD_BYTES`."""
    limit = settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(f"The file is larger than the upload limit of {limit:,} bytes.")


def queue_backfill(
    file, *, origin, user=None, dry_run=False, strict=False, thread_without_broker=False
):
    """Checks an uploaded file's start, stores it, records a `queued` run and queues its job.

    Returns the run: `queued` (a worker will take it), or already ended when jobs
    run eagerly (no broker configured). A file whose start already shows it cannot
    be imported (not UTF-8, binary, no usable header) raises `BackfillFileError`
    with its failed run as `error.run`, at once rather than in a worker. A broker
    that cannot be reached raises `QueueUnavailable`; the run is then recorded as
    failed and the file deleted, so nothing stays queued forever. A file past
    `SHOP_BACKFILL_MAX_UPLOAD_BYTES` raises `PayloadTooLarge`. Without a broker, an
    upload while another run holds the lock raises `BackfillLocked` (there is no
    queue to wait in). Without a broker and with `thread_without_broker`, the job runs
    in a thread of this process instead, and the run is returned `queued` at once.
    """
    refuse_if_too_large(file.size)
    if jobs_run_eagerly() and lock_is_held():
        # No queue to wait in: the job would run (and wait) inside this request.
        raise BackfillLocked()
    fields = {
        "source": f"upload: {file.name}"[:500],
        "origin": origin,
        "started_by": started_by(user),
        "dry_run": dry_run,
        "strict": strict,
    }
    try:
        with ProductCsvReader(file):
            pass  # the header is read and checked
    except BackfillFileError as error:
        error.run = finish_run(start_run(**fields), status=Status.FAILED, error=str(error))
        raise
    run = queue_run(upload=uploads.store(file), **fields)
    if thread_without_broker and jobs_run_eagerly():
        threading.Thread(
            target=_job_in_thread, args=(run.pk,), name=f"import-run-{run.pk}", daemon=True
        ).start()
        return run
    try:
        run_backfill_job.delay(run.pk)
    except BrokerUnreachable as error:
        finish_run(run, status=Status.FAILED, error=f"the job queue was unreachable: {error}")
        raise QueueUnavailable() from None
    except BaseException as error:
        # Whatever stopped the publish, the run must not wait `queued` for a job never sent.
        finish_run(run, status=Status.FAILED, error=f"the job could not be queued: {error!r}")
        raise
    run.refresh_from_db()
    return run


def _job_in_thread(run_id):
    """The job, in a thread of the server that queued it (no broker: `make run`).

    Its database connections are the thread's own and are closed when it ends, which
    also lets go of the lock. A thread that dies with its process leaves the run
    `running` without a lock holder, which `sweep_stale_runs` marks failed.
    """
    try:
        run_backfill_job(run_id)
    except BackfillFileError:
        pass  # an unusable file: its run's record says why
    finally:
        connections.close_all()
