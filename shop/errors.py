"""The project's own exceptions: what services, the admin and the workers raise.

They speak the shop's language, not HTTP: `shop.error_responses` maps each to its
answer for the API, and the admin shows its message to staff. A row that has
gone meanwhile is Django's own `Model.DoesNotExist`; a bad value is Django's
`ValidationError`.
"""

from django.db import OperationalError


class ShopError(Exception):
    """Base class: `str(error)` is a sentence for a person."""

    default_message = "The request cannot be carried out."

    def __init__(self, message=None):
        super().__init__(message or self.default_message)

    @property
    def message(self):
        return str(self)


class Conflict(ShopError):
    """A valid request colliding with the current state (a product in use, the last staff)."""

    default_message = "The request conflicts with the current state of the resource."


class Forbidden(ShopError):
    """The actor may not do this to this object (plain staff against a superuser)."""

    default_message = "You do not have permission to perform this action."


class PayloadTooLarge(ShopError):
    """An upload or body larger than the configured limit."""

    default_message = "The upload is too large."


class Busy(ShopError):
    """A resource stayed taken past the wait (SQLite's write lock): nothing was done; retry.

    `retry_after` is how many seconds a client is asked to wait.
    """

    default_message = "The database is busy; retry shortly."

    def __init__(self, message=None, *, retry_after=5):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ShopError):
    """A rate limit is used up (`shop.ratelimit`): nothing was done or checked.

    `retry_after` is how many seconds until the limit's window ends.
    """

    default_message = "Too many requests; try again later."

    def __init__(self, message=None, *, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class QueueUnavailable(ShopError):
    """The job queue (Celery's broker) cannot be reached: the job was not queued."""

    default_message = (
        "The job queue is unreachable, so the job was not queued; nothing was changed. "
        "Try again in a minute."
    )


class IdempotencyKeyReused(ShopError):
    """An `Idempotency-Key` sent again with a different request: nothing was done."""

    default_message = (
        "This Idempotency-Key was already used for a different request; use a new key for a "
        "new request."
    )


class DatabaseUnavailable(ShopError, OperationalError):
    """A database connection could not be made (the server is down, unreachable, or full).

    Raised where connections are made (`shop.backends.postgresql`), so that a request that
    could not reach the database is told apart from one whose query failed. It is Django's
    `OperationalError` too: code that falls back on one (reports and the replica) still does.
    `retry_after` is how many seconds a client is asked to wait.
    """

    default_message = "The database cannot be reached; retry shortly."

    def __init__(self, message=None, *, retry_after=5):
        super().__init__(message)
        self.retry_after = retry_after


class SecondFactorNeeded(ShopError):
    """A staff member gave the right password but no second-factor code: nothing was issued."""

    default_message = (
        'A second-factor code is needed for a staff account: send "otp" with the current code '
        "of your authenticator app, or one of your recovery codes."
    )


class SecondFactorRejected(ShopError):
    """A second-factor code that is wrong, already used, or not (or no longer) enrolled."""

    default_message = (
        "The second-factor code is wrong or was already used: enter the current code of your "
        "authenticator app, or an unused recovery code."
    )


class BackfillFileError(ShopError):
    """A CSV file the catalogue backfill cannot import at all (missing, binary, not UTF-8,
    empty, no usable header): nothing was imported. The message says why, for a person;
    `run`, when set, is the failed run's record."""

    default_message = "the file cannot be imported"


class BackfillLocked(Conflict):
    """Another backfill holds the one-run-at-a-time lock: nothing was done."""

    default_message = "another backfill is running; try again when it has finished"


class RunCancelled(ShopError):
    """A backfill run was cancelled (before it started, or while it ran)."""

    default_message = "the run was cancelled"
