"""Runs an import: takes the lock, reads and stages the file, writes the catalogue, and
records how the run ended.

- `run_backfill(source, …)` imports now, in the calling process: `manage.py
  backfill` and the old service's `GET /products/data/backfill`;
- `run_queued(run_id)` imports an upload that `products.backfill.queue` queued
  (a Celery worker's job, `products.tasks`).

Both end in `_import`, so every rule holds whichever door a file comes through.
"""

import contextlib

from django.conf import settings
from django.db import OperationalError, connection, transaction

from products.backfill import uploads
from products.backfill.locks import backfill_lock
from products.backfill.progress import CancelWatcher, Checkpoint
from products.backfill.reader import ProductCsvReader
from products.backfill.rejections import Rejections
from products.backfill.runs import (
    claim_run,
    finish_run,
    is_queued,
    record_progress,
    start_run,
    started_by,
    sweep_stale_runs,
)
from products.backfill.writer import writer_for
from products.models import BackfillRun
from shop.celery import jobs_run_eagerly
from shop.errors import BackfillFileError, BackfillLocked, RunCancelled

DEFAULT_BATCH_SIZE = 5000
EAGER_LOCK_WAIT = 10.0  # seconds
Status = BackfillRun.Status


def run_backfill(
    source,
    *,
    source_name=None,
    origin=BackfillRun.Origin.COMMAND,
    user=None,
    dry_run=False,
    strict=False,
    wait=0.0,
    **options,
):
    """Imports a product CSV (a path or a binary file object) now; returns its `BackfillRun`.

    Valid rows are created or updated by sku, unchanged rows are left alone and
    invalid rows are rejected (with `strict` any rejection writes nothing; a dry
    run never writes). The catalogue is written in one transaction.

    Raises `BackfillLocked` when another run holds the lock (after waiting `wait`
    seconds) and `BackfillFileError` for a file that cannot be used; in that case
    the run is recorded as failed and `error.run` is its record. A run cancelled
    from the API or the admin ends `cancelled` (returned, not raised).

    `options` are `_import`'s: `batch_size`, and callbacks for the command's output:
    `on_reject(line, reason)` for each rejected row; `on_warning(message)`;
    `on_start(reader)` once the header is read; `on_progress(bytes_read)` about once a
    second.
    """
    with backfill_lock(wait):
        sweep_stale_runs(holding_lock=True)
        run = start_run(
            source=str(source_name or source)[:500],
            origin=origin,
            started_by=started_by(user),
            dry_run=dry_run,
            strict=strict,
        )
        return _import(run, source, **options)


def run_queued(run_id):
    """Runs a queued run (a worker's job); returns its record, or None if there is none.

    The run stays `queued` while another holds the lock (two uploads never
    interleave: the second waits its turn); cancelled meanwhile, it never starts.
    """
    run = BackfillRun.objects.filter(pk=run_id).first()
    if run is None or run.status != Status.QUEUED:
        return run
    # A worker waits its turn as long as a queued run may wait; run eagerly (no broker),
    # the job is inside a request, which cannot wait that long.
    wait = EAGER_LOCK_WAIT if jobs_run_eagerly() else settings.SHOP_BACKFILL_QUEUE_TIMEOUT
    try:
        with backfill_lock(wait, still_wanted=lambda: is_queued(run)):
            sweep_stale_runs(holding_lock=True)
            claim_run(run)
            try:
                source = uploads.open_stored(run.upload)
            except OSError:
                error = BackfillFileError("the uploaded file is no longer in the storage")
                return _fail(run, error)
            with source:
                return _import(run, source)
    except RunCancelled:
        run.refresh_from_db()
        return run
    except BackfillLocked:
        error = BackfillFileError("waited too long for other backfills to finish")
        return _fail(run, error)


def _fail(run, error):
    return finish_run(run, status=Status.FAILED, error=str(error))


def _import(
    run,
    source,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    on_reject=None,
    on_warning=None,
    on_start=None,
    on_progress=None,
):
    """Reads, stages and writes the file of a `running` run, and records how it ended."""
    rejections = Rejections(forward=on_reject)
    reader = ProductCsvReader(source)
    watcher = None
    try:
        with reader, writer_for(connection, batch_size) as writer:
            for warning in reader.stats.warnings:
                if on_warning is not None:
                    on_warning(warning)
            if on_start is not None:
                on_start(reader)
            _stage(run, reader, writer, rejections, on_progress)
            written = writer.write_progress if writer.counts_written else None
            with CancelWatcher(run, written=written) as watcher:
                return _write(run, reader, writer, rejections, watcher)
    except RunCancelled:
        return _cancelled(run, reader, rejections)
    except OperationalError as error:
        if watcher is not None and watcher.cancelled:  # the watcher interrupted the statement
            return _cancelled(run, reader, rejections)
        _crashed(run, error)
        raise
    except BackfillFileError as error:
        finish_run(run, status=Status.FAILED, error=str(error), **_read(reader, rejections))
        error.run = run
        raise
    except BaseException as error:
        _crashed(run, error)
        raise


def _stage(run, reader, writer, rejections, on_progress):
    """The reading phase: the file's valid rows into the writer's staging table."""
    checkpoint = Checkpoint(run, reader, on_progress=on_progress)
    writer.write(reader.rows(rejections), checkpoint)
    checkpoint(force=True)  # the whole file is read
    if record_progress(run, phase=BackfillRun.Phase.WRITING, progress=0.0):
        raise RunCancelled()


def _write(run, reader, writer, rejections, watcher):
    """The writing phase: duplicates rejected, then the catalogue written (unless the run is
    strict and rejected rows, or a dry run), in the transaction that records the end."""
    writer.remove_duplicates(
        lambda line, sku, first: rejections(line, reader.duplicate(sku, first))
    )
    if run.strict and rejections.count:
        return _finish(run, Status.ABORTED, reader, rejections, (0, 0, 0))
    if run.dry_run:
        return _finish(run, _outcome(rejections), reader, rejections, writer.plan())
    with transaction.atomic():
        counts = writer.upsert()
        # The watcher stops first: its progress would wait for the record's lock.
        watcher.stop()
        if watcher.cancelled:
            raise RunCancelled()
        # Recorded in the catalogue's transaction, unless a cancel was asked:
        # a cancel either rolls the import back or is refused (409), never lost.
        return _finish(run, _outcome(rejections), reader, rejections, counts)


def _outcome(rejections):
    return Status.PARTIAL if rejections.count else Status.SUCCEEDED


def _finish(run, status, reader, rejections, counts):
    """Records the end of a run that read its whole file; `RunCancelled` if a cancel came first."""
    created, updated, unchanged = counts
    return finish_run(
        run,
        status=status,
        unless_cancelled=True,
        created=created,
        updated=updated,
        unchanged=unchanged,
        **_read(reader, rejections),
    )


def _read(reader, rejections):
    """What the run read: rows, rejections, warnings (for its record)."""
    return {
        "rows": reader.stats.rows,
        "rejected": rejections.count,
        "rejected_lines": rejections.sorted(),
        "warnings": reader.stats.warnings,
    }


def _cancelled(run, reader, rejections):
    return finish_run(
        run, status=Status.CANCELLED, error="cancelled while running", **_read(reader, rejections)
    )


def _crashed(run, error):
    # The catalogue's transaction rolled back; say so in the record. If the connection
    # itself is gone this cannot be saved, and the next look at the runs marks it failed.
    with contextlib.suppress(Exception):
        finish_run(run, status=Status.FAILED, error=f"crashed: {error!r}"[:2000])
