"""The database lock that allows one backfill run at a time.

The lock belongs to the database server (PostgreSQL's advisory lock) or to
SQLite's own file locking, never to a process: web workers, Celery workers and
the command, on any machine sharing the database, all see the same lock. It is
tied to a connection or an open file, so a process that dies releases it: a run
still `running` while nobody holds the lock is known to be dead
(`products.backfill.runs.sweep_stale_runs`).
"""

import hashlib
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager

from django.db import connection

from shop.errors import BackfillLocked, RunCancelled

# One fixed 64-bit key for PostgreSQL's advisory locks: "products.backfill".
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"products.backfill").digest()[:8], "big", signed=True)
POLL_SECONDS = 0.2
# SQLite's primary result codes for "another connection holds the lock".
SQLITE_TAKEN = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


@contextmanager
def backfill_lock(wait=0.0, *, still_wanted=None):
    """Holds the one-run-at-a-time lock; waits up to `wait` seconds, then raises BackfillLocked.

    While waiting, `still_wanted()` (if given) is asked at every poll; when it says
    no (the queued run was cancelled), `RunCancelled` is raised.
    """
    if connection.vendor == "postgresql":
        with _advisory_lock(wait, still_wanted):
            yield
    elif connection.vendor == "sqlite":
        with _sqlite_lock(wait, still_wanted):
            yield
    else:
        raise NotImplementedError(f"no backfill lock for {connection.vendor}")


def _retry(try_once, wait, still_wanted):
    deadline = time.monotonic() + max(wait, 0)
    while not try_once():
        if still_wanted is not None and not still_wanted():
            raise RunCancelled()
        if time.monotonic() >= deadline:
            raise BackfillLocked()
        time.sleep(POLL_SECONDS)


@contextmanager
def _advisory_lock(wait, still_wanted):
    # A session-level advisory lock on Django's connection: the run's record is
    # written outside the import's transaction, so a transaction-level lock would
    # not cover it. PostgreSQL releases it if the session dies.
    def try_once():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            return cursor.fetchone()[0]

    _retry(try_once, wait, still_wanted)
    try:
        yield
    finally:
        if connection.connection is not None and not connection.connection.closed:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])


def sqlite_lock_path():
    """The small SQLite database whose exclusive lock stands for "a backfill is running".

    SQLite has no advisory locks, and holding the main database's write lock for
    the whole run would keep the run's own record from being written. A lock
    database next to the main one gives the same guarantee through SQLite's file
    locking, which the operating system releases when the process dies.
    """
    name = str(connection.settings_dict["NAME"])
    if name.startswith("file:") or name == ":memory:" or "mode=memory" in name:
        # An in-memory database lives in one process: so does its lock.
        digest = hashlib.sha256(f"{name}:{os.getpid()}".encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), f"shop-backfill-{digest}.lock.sqlite3")
    return f"{name}.backfill-lock"


def _sqlite_try(lock):
    try:
        lock.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as error:
        # The extended code's low byte is the primary one (SQLITE_BUSY_SNAPSHOT is a busy).
        if error.sqlite_errorcode & 0xFF in SQLITE_TAKEN:
            return False
        raise
    return True


@contextmanager
def _sqlite_lock(wait, still_wanted):
    lock = sqlite3.connect(sqlite_lock_path(), timeout=0, isolation_level=None)
    try:
        _retry(lambda: _sqlite_try(lock), wait, still_wanted)
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
    finally:
        lock.close()


def lock_is_held():
    """Whether some process holds the backfill lock now (without taking it on PostgreSQL)."""
    if connection.vendor == "postgresql":
        # An advisory lock on a bigint key shows in pg_locks as its two 32-bit halves, and
        # belongs to one database of the server: another database's backfill is not ours.
        high, low = (ADVISORY_KEY >> 32) & 0xFFFFFFFF, ADVISORY_KEY & 0xFFFFFFFF
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s AND objid = %s AND objsubid = 1 AND granted)",
                [high, low],
            )
            return cursor.fetchone()[0]
    lock = sqlite3.connect(sqlite_lock_path(), timeout=0, isolation_level=None)
    try:
        if _sqlite_try(lock):
            lock.execute("ROLLBACK")
            return False
        return True
    finally:
        lock.close()
