"""Watching a running import: its progress for everyone to see, and cancelling it.

A run goes through two phases, each with its own `progress` from 0 to 1, and one
helper watches each:

- reading (`Checkpoint`, called by the writer between two batches while the file
  is read and staged; no catalogue row written yet, no transaction open): about
  once a second (`SHOP_BACKFILL_PROGRESS_SECONDS`) it writes `progress` (the
  fraction of the file read) and `rows` to the run's record — committed at once, so
  other requests and processes see them — and reads whether someone asked to
  cancel; if so it raises `RunCancelled`.
- writing (`CancelWatcher`, a thread alive while the duplicates are checked and the
  one long statement that writes the catalogue runs, inside its transaction): it
  polls the record on a connection of its own, writes the fraction of the rows
  written where the database can tell (PostgreSQL; SQLite allows one writer, the
  import), and, when a cancel is asked for, interrupts that statement (PostgreSQL:
  `pg_cancel_backend`; SQLite: `interrupt()`), so the transaction rolls back
  within about a second.
"""

import contextlib
import threading
import time

from django.conf import settings
from django.db import connection, connections

from products.backfill.runs import cancel_asked, record_progress
from products.models import BackfillRun
from shop.errors import RunCancelled

READING, WRITING = BackfillRun.Phase.READING, BackfillRun.Phase.WRITING


class Checkpoint:
    """Writes the run's progress every `SHOP_BACKFILL_PROGRESS_SECONDS` (1 s); raises
    `RunCancelled` when asked to.

    `run` may be None (a run without a record to update: nothing is written).
    """

    def __init__(self, run, reader, *, interval=None, on_progress=None):
        self.run = run
        self.reader = reader
        self.interval = settings.SHOP_BACKFILL_PROGRESS_SECONDS if interval is None else interval
        self.on_progress = on_progress
        self.last = time.monotonic()

    @property
    def progress(self):
        size = self.reader.size or 0
        return min(1.0, self.reader.bytes_read / size) if size else 0.0

    def __call__(self, force=False):
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        if self.on_progress is not None:
            self.on_progress(self.reader.bytes_read)
        if self.run is None:
            return
        progress, rows = self.progress, self.reader.stats.rows
        if record_progress(self.run, phase=READING, progress=progress, rows=rows):
            raise RunCancelled()


class CancelWatcher:
    """While in its `with` block, interrupts this thread's database work if the run is cancelled,
    and writes the writing phase's progress as `written(cursor)` reports it (if given).

    After the block, `cancelled` says whether it asked for the interruption: the
    caller then rolls back and records the run as cancelled (a cancel that comes
    just after the statement ended is caught by the caller's own last check).
    """

    def __init__(self, run, *, interval=None, written=None):
        self.run = run
        self.interval = settings.SHOP_BACKFILL_PROGRESS_SECONDS if interval is None else interval
        self.written = written
        self.cancelled = False
        self._stop = threading.Event()
        self._interrupt = _interrupter(connection)
        self._thread = threading.Thread(target=self._watch, name="backfill-cancel", daemon=True)

    def __enter__(self):
        if self.run is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Stops watching (waits for a poll under way to end)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _watch(self):
        try:
            while not self._stop.wait(self.interval):
                if self._cancel_asked():
                    self.cancelled = True
                    self._interrupt()
                    return
        finally:
            connections.close_all()  # this thread's own connection

    def _cancel_asked(self):
        # The record may be invisible to this connection (a test's open transaction) or
        # the database briefly busy: either way, not a cancel; look again next time.
        with contextlib.suppress(Exception):
            if self.written is None:
                return cancel_asked(self.run)
            with connections["default"].cursor() as cursor:
                progress = self.written(cursor)
            return record_progress(self.run, phase=WRITING, progress=progress)
        return False


def _interrupter(conn):
    """A function that aborts the statement running on `conn`, callable from another thread."""
    conn.ensure_connection()
    raw = conn.connection
    if conn.vendor == "postgresql":
        pid = raw.info.backend_pid

        def cancel_postgres():
            with contextlib.suppress(Exception), connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_cancel_backend(%s)", [pid])

        return cancel_postgres
    return raw.interrupt
