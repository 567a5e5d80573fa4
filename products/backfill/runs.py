"""The life of a `BackfillRun` record, and the database lock that allows one run at a time.

A run is `queued` (an upload waiting for a worker) or starts `running` at once
(the command, the old service's `GET`); it ends `succeeded`, `partial`,
`aborted`, `failed` or `cancelled`. Every change of state is one conditional
UPDATE (`… WHERE status = 'queued'`), so a cancel and a worker picking the run
up at the same moment cannot both win.

The lock belongs to the database server (PostgreSQL) or to SQLite's own file
locking, never to a process: web workers, Celery workers and the command, on
any machine sharing the database, all see the same lock. It is tied to a
connection or an open file, so a process that dies releases it; a record still
`running` while nobody holds the lock is then known to be dead, and
`sweep_stale_runs` (run whenever runs are listed or read, and by the periodic
housekeeping task) marks it failed.
"""

import hashlib
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.recording import record, record_many
from products.backfill import uploads
from products.models import BackfillRun
from shop import metrics, requestid
from shop.errors import Conflict

# One fixed 64-bit key for PostgreSQL's advisory locks: "products.backfill".
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"products.backfill").digest()[:8], "big", signed=True)
POLL_SECONDS = 0.2

Status = BackfillRun.Status
DIED = (
    "interrupted: the process running it stopped (killed, crashed or restarted) before the "
    "run finished; nothing was written"
)
NEVER_STARTED = "never started: no worker took it from the queue in time; nothing was written"


class BackfillLocked(Exception):
    """Another backfill holds the lock."""

    def __init__(self, message="another backfill is running; try again when it has finished"):
        super().__init__(message)


class RunCancelled(Exception):
    """The run was cancelled (before it started, or while it ran)."""


# -- the lock --------------------------------------------------------------------------


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
        if "locked" in str(error) or "busy" in str(error):
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


# -- the record --------------------------------------------------------------------------


def runs():
    return BackfillRun.objects.all()


def started_by(user):
    """The user to record as having started a run: None for nobody or an anonymous one."""
    return user if user is not None and user.is_authenticated else None


def start_run(**fields):
    """A record for a run that starts now (the command, `GET`): `running` from the outset."""
    now = timezone.now()
    return BackfillRun.objects.create(
        status=Status.RUNNING,
        phase=BackfillRun.Phase.READING,
        queued_at=now,
        started_at=now,
        request_id=requestid.current(),
        **fields,
    )


def queue_run(**fields):
    """A record for a run that waits for a worker."""
    return BackfillRun.objects.create(
        status=Status.QUEUED, request_id=requestid.current(), **fields
    )


def claim_run(run):
    """Moves a queued run to `running` (one UPDATE); `RunCancelled` if it is no longer queued."""
    now = timezone.now()
    claimed = BackfillRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
        status=Status.RUNNING, phase=BackfillRun.Phase.READING, started_at=now
    )
    if not claimed:
        raise RunCancelled()
    run.status, run.phase, run.started_at = Status.RUNNING, BackfillRun.Phase.READING, now
    return run


def is_queued(run):
    return BackfillRun.objects.filter(pk=run.pk, status=Status.QUEUED).exists()


def cancel_asked(run):
    """Whether someone has asked the running `run` to stop (read from the database)."""
    return BackfillRun.objects.filter(pk=run.pk, cancel_requested=True).exists()


def record_progress(run, *, phase, progress, rows=None):
    """Writes how far the run has got in its phase (committed at once); says whether it was
    cancelled. Only a `running` record is written: one that has ended keeps its final state."""
    fields = {"phase": phase, "progress": progress}
    if rows is not None:
        fields["rows"] = rows
    BackfillRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(**fields)
    return cancel_asked(run)


def finish_run(run, *, status, error="", unless_cancelled=False, **counts):
    """Records how an active run ended (one conditional UPDATE) and deletes its upload.

    Only the fields of the outcome are written, and only while the run is still
    active: a cancel asked meanwhile (`cancel_requested`) is never written over, and a
    run that has already ended keeps its outcome. With `unless_cancelled` (a run that
    wrote the catalogue, called inside that transaction) nothing is written if a cancel
    was asked: `RunCancelled` is raised, and the caller's transaction rolls back. Because
    the UPDATE locks the record until the commit, a cancel that comes after it waits,
    then finds the run ended (409): a cancel is either honoured or refused, never lost.
    """
    # Only what the end says: `cancel_requested` and the progress written meanwhile by
    # other connections are not this object's to write back.
    fields = {"status": status, "error": error, "finished_at": timezone.now(), **counts}
    if status in (Status.SUCCEEDED, Status.PARTIAL):
        fields["progress"] = 1.0
    before = run.status
    for name, value in fields.items():
        setattr(run, name, value)
    active = BackfillRun.objects.filter(pk=run.pk, status__in=BackfillRun.ACTIVE)
    if unless_cancelled:
        active = active.filter(cancel_requested=False)
    written = active.update(**fields)
    if not written and unless_cancelled:
        raise RunCancelled()
    if written:
        tally = ", ".join(f"{n} {v}" for n, v in counts.items() if isinstance(v, int))
        reason = "; ".join(part for part in (tally, error) if part)
        record("import_run", run, changes={"status": [before, status]}, reason=reason)
        metrics.backfill_run_ended(run)
        # Even inside the catalogue's transaction: the file has been read, and whatever
        # the commit does, the run has ended.
        uploads.discard(run)
    # The record as it is (the progress and a cancel written by others; or, if someone
    # else ended it first, the sweep, their outcome, which stands).
    run.refresh_from_db()
    return run


def cancel_run(run):
    """Cancels a run: a queued one ends `cancelled` now; a running one is asked to stop.

    Returns the run as it now is. A run that has already ended is a `Conflict`.
    The running import sees the request within a second or so, rolls back and
    ends `cancelled` itself: an import records its success in the transaction that
    writes the catalogue, only if no cancel was asked (`finish_run`), so a cancel
    accepted here always ends `cancelled`, and one that comes after that commit
    finds the run ended.
    """
    now = timezone.now()
    queued = BackfillRun.objects.filter(pk=run.pk, status=Status.QUEUED)
    if queued.update(status=Status.CANCELLED, finished_at=now, error="cancelled before it started"):
        run.refresh_from_db()
        metrics.backfill_run_ended(run)
        uploads.discard(run)
        return run
    running = BackfillRun.objects.filter(pk=run.pk, status=Status.RUNNING)
    asked = running.update(cancel_requested=True)
    run.refresh_from_db()
    if not asked:
        raise Conflict(
            f"Backfill run {run.pk} has already ended ({run.status}); nothing to cancel."
        )
    return run


def sweep_stale_runs(*, holding_lock=False):
    """Marks failed the runs that can no longer finish; returns how many.

    - `running` while nobody holds the lock: its process died (the import's
      transaction died with it, so nothing was written);
    - `queued` for longer than `SHOP_BACKFILL_QUEUE_TIMEOUT`: no worker took it
      (the queue lost it, or no worker runs).

    `holding_lock=True` when the caller holds the lock itself (nobody else runs).
    Each UPDATE re-checks the status, so a run that moved on meanwhile is left alone.
    """
    active = BackfillRun.objects.filter(status__in=BackfillRun.ACTIVE)
    if not active.exists():
        return 0
    # The running runs are listed before the lock is looked at: a run that starts after
    # the look holds the lock by then and is not in the list (a run is `running` only
    # once its process holds the lock).
    running = list(active.filter(status=Status.RUNNING).values_list("pk", flat=True))
    swept = 0
    if running and (holding_lock or not lock_is_held()):
        swept += _fail(active.filter(pk__in=running, status=Status.RUNNING), DIED)
    deadline = timezone.now() - timedelta(seconds=settings.SHOP_BACKFILL_QUEUE_TIMEOUT)
    swept += _fail(active.filter(status=Status.QUEUED, queued_at__lt=deadline), NEVER_STARTED)
    return swept


def _fail(runs_to_fail, reason):
    """Fails the runs (the UPDATE re-checks their status) and deletes their waiting files."""
    stale = dict(runs_to_fail.values_list("pk", "status"))
    if not stale:
        return 0
    failed = runs_to_fail.filter(pk__in=stale).update(
        status=Status.FAILED, finished_at=timezone.now(), error=reason
    )
    ended = list(BackfillRun.objects.filter(pk__in=stale, status=Status.FAILED))
    for run in ended:
        if run.upload:
            uploads.discard(run)
    record_many(
        "import_run",
        ended,
        changes=lambda run: {"status": [stale[run.pk], run.status]},
        reason=reason,
    )
    metrics.backfill_runs_failed(failed)
    return failed


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
