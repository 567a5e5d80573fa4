"""The life of a `BackfillRun` record, and the database lock that allows one run at a time.

The lock belongs to the database server (PostgreSQL) or to SQLite's own file
locking, never to a process: two web workers, a worker and the command, or two
machines sharing a PostgreSQL server all see the same lock. It is tied to a
connection or an open file, so a run that is killed releases it with its
process; the next run then finds the dead run's record still `running` and
marks it `failed`.
"""

import hashlib
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from products.models import BackfillRun

# One fixed 64-bit key for PostgreSQL's advisory locks: "products.backfill".
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"products.backfill").digest()[:8], "big", signed=True)
POLL_SECONDS = 0.2


class BackfillLocked(Exception):
    """Another backfill holds the lock."""

    def __init__(self, message="another backfill is running; try again when it has finished"):
        super().__init__(message)


@contextmanager
def backfill_lock(wait=0.0):
    """Holds the one-run-at-a-time lock; waits up to `wait` seconds, then raises BackfillLocked."""
    if connection.vendor == "postgresql":
        with _advisory_lock(wait):
            yield
    elif connection.vendor == "sqlite":
        with _sqlite_lock(wait):
            yield
    else:
        raise NotImplementedError(f"no backfill lock for {connection.vendor}")


def _retry(try_once, wait):
    deadline = time.monotonic() + max(wait, 0)
    while not try_once():
        if time.monotonic() >= deadline:
            raise BackfillLocked()
        time.sleep(POLL_SECONDS)


@contextmanager
def _advisory_lock(wait):
    # A session-level advisory lock on Django's connection: the run's record is
    # committed outside the import's transaction, so a transaction-level lock would
    # not cover it. PostgreSQL releases it if the session dies.
    def try_once():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            return cursor.fetchone()[0]

    _retry(try_once, wait)
    try:
        yield
    finally:
        if connection.connection is not None and not connection.connection.closed:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])


def sqlite_lock_path():
    """The small SQLite database whose exclusive lock stands for "a backfill is running".

    SQLite has no advisory locks, and holding the main database's write lock for
    the whole run would keep the run's own record from being committed. A lock
    database next to the main one gives the same guarantee through SQLite's file
    locking, which the operating system releases when the process dies.
    """
    name = str(connection.settings_dict["NAME"])
    if name.startswith("file:") or name == ":memory:" or "mode=memory" in name:
        # An in-memory database lives in one process: so does its lock.
        digest = hashlib.sha256(f"{name}:{os.getpid()}".encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), f"shop-backfill-{digest}.lock.sqlite3")
    return f"{name}.backfill-lock"


@contextmanager
def _sqlite_lock(wait):
    lock = sqlite3.connect(sqlite_lock_path(), timeout=0, isolation_level=None)

    def try_once():
        try:
            lock.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                return False
            raise
        return True

    try:
        _retry(try_once, wait)
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
    finally:
        lock.close()


def mark_stale_runs_failed():
    """Marks `running` records failed. Only call while holding the lock: nobody else runs."""
    return BackfillRun.objects.filter(status=BackfillRun.Status.RUNNING).update(
        status=BackfillRun.Status.FAILED,
        finished_at=timezone.now(),
        error="interrupted: the process stopped before the run finished; nothing was written",
    )


def start_run(**fields):
    return BackfillRun.objects.create(status=BackfillRun.Status.RUNNING, **fields)


def finish_run(run, *, status, error="", **counts):
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    for name, value in counts.items():
        setattr(run, name, value)
    run.save()
    return run


class Rejections:
    """Collects rejected rows: a total, and the first `cap` of them for the record."""

    def __init__(self, cap=None, forward=None):
        self.cap = BackfillRun.MAX_STORED_REJECTIONS if cap is None else cap
        self.count = 0
        self.stored = []
        self.forward = forward

    def __call__(self, line, reason):
        self.count += 1
        if len(self.stored) < self.cap:
            self.stored.append({"line": line, "reason": reason})
        if self.forward is not None:
            self.forward(line, reason)

    def sorted(self):
        return sorted(self.stored, key=lambda item: item["line"])
