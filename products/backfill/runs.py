"""The life of a `BackfillRun` record: queued, running, then how it ended.

A run is `queued` (an upload waiting for a worker) or starts `running` at once
(the command, the old service's `GET`); it ends `succeeded`, `partial`,
`aborted`, `failed` or `cancelled`. Every change of state is one conditional
UPDATE (`… WHERE status = 'queued'`), so a cancel and a worker picking the run
up at the same moment cannot both win. A record still `running` while nobody
holds the lock (`products.backfill.locks`) belongs to a process that died:
`sweep_stale_runs` (run whenever runs are listed or read, and by the periodic
housekeeping task) marks it failed.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from products.backfill import uploads
from products.backfill.locks import lock_is_held
from products.models import BackfillRun
from shop import metrics, requestid
from shop.errors import Conflict, RunCancelled

Status = BackfillRun.Status
DIED = (
    "interrupted: the process running it stopped (killed, crashed or restarted) before the "
    "run finished; nothing was written"
)
NEVER_STARTED = "never started: no worker took it from the queue in time; nothing was written"


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
    for name, value in fields.items():
        setattr(run, name, value)
    active = BackfillRun.objects.filter(pk=run.pk, status__in=BackfillRun.ACTIVE)
    if unless_cancelled:
        active = active.filter(cancel_requested=False)
    written = active.update(**fields)
    if not written and unless_cancelled:
        raise RunCancelled()
    if written:
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
    stale = list(runs_to_fail.values_list("pk", flat=True))
    if not stale:
        return 0
    failed = runs_to_fail.filter(pk__in=stale).update(
        status=Status.FAILED, finished_at=timezone.now(), error=reason
    )
    for run in BackfillRun.objects.filter(pk__in=stale, status=Status.FAILED).exclude(upload=""):
        uploads.discard(run)
    metrics.backfill_runs_failed(failed)
    return failed
