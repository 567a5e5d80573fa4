"""The CSV backfill of the product catalogue: the one importer every caller uses.

`run_backfill` imports now and `run_queued` runs a queued upload
(`products.backfill.imports`); `products.backfill.queue.queue_backfill` queues an
upload. The modules: `imports` runs an import from start to end; `reader` streams
the CSV and checks each row by the catalogue's rules; `writer` stages the valid
rows and upserts them in one statement; `runs` keeps the run's record; `locks` the
one-run-at-a-time lock; `rejections` the rejected rows; `progress` reports progress
and honours a cancel; `uploads` keeps uploaded files until their run ends; `legacy`
reads the old service's file. Its errors are `shop.errors.BackfillFileError`,
`BackfillLocked` and `RunCancelled`.
"""

from products.backfill.imports import run_backfill, run_queued

__all__ = ["run_backfill", "run_queued"]
