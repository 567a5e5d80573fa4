"""The CSV backfill of the product catalogue (SPEC 5): the one entry point every caller uses.

`run_backfill(source, ...)` is called by `manage.py backfill`, by the HTTP
endpoints and by the admin; none of them reads or writes rows itself.

- `reader`: streams the CSV and validates each row;
- `writer`: stages the valid rows and upserts them in one statement;
- `runs`: the run's record and the one-run-at-a-time lock.
"""

import contextlib

from django.db import connection, transaction

from products.backfill.reader import BackfillFileError, ProductCsvReader
from products.backfill.runs import (
    BackfillLocked,
    Rejections,
    backfill_lock,
    finish_run,
    mark_stale_runs_failed,
    start_run,
)
from products.backfill.writer import writer_for
from products.models import BackfillRun

__all__ = ["BackfillFileError", "BackfillLocked", "BackfillRun", "run_backfill"]

DEFAULT_BATCH_SIZE = 5000
PROGRESS_EVERY = 10_000  # rows between two progress callbacks


class _StrictAbort(Exception):
    """Rolls the transaction back: `--strict` and a row was rejected."""


def run_backfill(
    source,
    *,
    source_name=None,
    origin=BackfillRun.Origin.COMMAND,
    user=None,
    dry_run=False,
    strict=False,
    batch_size=DEFAULT_BATCH_SIZE,
    wait=0.0,
    on_reject=None,
    on_warning=None,
    on_start=None,
    on_progress=None,
):
    """Imports a product CSV (a path or a binary file object) and returns its `BackfillRun`.

    Valid rows are created or updated by sku, unchanged rows are left alone and
    invalid rows are rejected (with `--strict` any rejection writes nothing; a dry
    run never writes). The whole import is one transaction.

    Raises `BackfillLocked` when another run holds the lock (after waiting `wait`
    seconds) and `BackfillFileError` for a file that cannot be used; in that case
    the run is recorded as failed and `error.run` is its record.

    Callbacks, for the command's output: `on_reject(line, reason)` for each
    rejected row; `on_warning(message)`; `on_start(reader)` once the header is read;
    `on_progress(bytes_read)` every few thousand rows.
    """
    name = str(source_name or source)[:500]
    with backfill_lock(wait):
        mark_stale_runs_failed()
        run = start_run(
            source=name,
            origin=origin,
            started_by=user if user is not None and user.is_authenticated else None,
            dry_run=dry_run,
            strict=strict,
        )
        rejections = Rejections(forward=on_reject)
        reader = ProductCsvReader(source)
        counts = {}
        try:
            with reader, transaction.atomic():
                for warning in reader.stats.warnings:
                    if on_warning is not None:
                        on_warning(warning)
                if on_start is not None:
                    on_start(reader)
                rows = reader.rows(rejections)
                if on_progress is not None:
                    rows = _with_progress(rows, reader, on_progress)
                with writer_for(connection, batch_size) as writer:
                    writer.write(rows)
                    writer.remove_duplicates(
                        lambda line, sku, first: rejections(
                            line, f"duplicate sku {sku} (first seen on line {first})"
                        )
                    )
                    if strict and rejections.count:
                        created, updated, unchanged = 0, 0, 0
                    elif dry_run:
                        created, updated, unchanged = writer.plan()
                    else:
                        created, updated, unchanged = writer.upsert()
                counts = {
                    "rows": reader.stats.rows,
                    "created": created,
                    "updated": updated,
                    "unchanged": unchanged,
                    "rejected": rejections.count,
                    "rejected_lines": rejections.sorted(),
                    "warnings": reader.stats.warnings,
                }
                if strict and rejections.count:
                    raise _StrictAbort
                if dry_run:
                    transaction.set_rollback(True)
        except _StrictAbort:
            return finish_run(run, status=BackfillRun.Status.ABORTED, **counts)
        except BackfillFileError as error:
            finish_run(
                run,
                status=BackfillRun.Status.FAILED,
                error=str(error),
                rows=reader.stats.rows,
                rejected=rejections.count,
                rejected_lines=rejections.sorted(),
                warnings=reader.stats.warnings,
            )
            error.run = run
            raise
        except BaseException as error:
            # A crash (or Ctrl-C): the transaction rolled back; say so in the record.
            # If the connection itself is gone this cannot be saved, and the next run
            # marks the record failed instead.
            with contextlib.suppress(Exception):
                finish_run(
                    run, status=BackfillRun.Status.FAILED, error=f"crashed: {error!r}"[:2000]
                )
            raise
        status = BackfillRun.Status.PARTIAL if rejections.count else BackfillRun.Status.SUCCEEDED
        return finish_run(run, status=status, **counts)


def _with_progress(rows, reader, on_progress):
    for count, row in enumerate(rows, 1):
        if count % PROGRESS_EVERY == 0:
            on_progress(reader.bytes_read)
        yield row
    on_progress(reader.bytes_read)
