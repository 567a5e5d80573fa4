"""Who is acting and through which door, for the code that runs now (a context variable).

Every door says it once, where it begins, and `audit.recording` reads it:

- HTTP requests (the API and the admin): `RequestDoorMiddleware`, after Django's
  `AuthenticationMiddleware`, puts the request itself in place; who it is is read when an
  event is recorded, by then authenticated: DRF writes the user and the token it
  authenticated onto the Django request (`request.user`, `request.auth`), for viewsets
  and plain API views alike. Paths under the admin are the admin's door;
- management commands: `AuditedCommand`, mixed into each command that writes;
- Celery tasks: the task signals below (a task run eagerly inside a request is the
  task's door, under the request's id);
- anything else inside those: `acting(actor, via, via_detail)` (an import run names
  itself and whoever started it).

Nothing set (a shell, a test calling a service directly) is the `system` door.
The request id is `shop.requestid`'s, which requests and tasks already carry.
"""

import contextvars
import functools
from contextlib import contextmanager
from dataclasses import dataclass

from celery import signals
from django.urls import reverse

from audit.models import AuditEvent
from shop import requestid

Via = AuditEvent.Via


@dataclass(frozen=True)
class Door:
    """Who acts (`actor_id`, `actor`: a user's id and email, or a process's name) and
    through what (`via`, `via_detail`)."""

    actor_id: int | None
    actor: str
    via: str
    via_detail: str = ""

    def resolve(self):
        return self


def door_of(actor, via, via_detail=""):
    """A `Door` for `actor`: a user (signed in or not), a process's name, or None."""
    if isinstance(actor, str) or actor is None:
        return Door(None, actor or "", via, via_detail)
    if not actor.is_authenticated:
        return Door(None, "anonymous", via, via_detail)
    return Door(actor.pk, actor.get_username(), via, via_detail)


class RequestDoor:
    """A request's door, resolved when an event is recorded: by then the API has
    authenticated its user (and token), which DRF sets on the Django request."""

    def __init__(self, request):
        self.request = request

    def resolve(self):
        request = self.request
        user = getattr(request, "user", None)
        if request.path.startswith(_admin_prefix()):
            return door_of(user, Via.ADMIN, "session")
        token_key = getattr(getattr(request, "auth", None), "token_key", None)
        if token_key:
            return door_of(user, Via.API, f"token {token_key}")
        signed_in = user is not None and user.is_authenticated
        return door_of(user, Via.API, "session" if signed_in else "")


@functools.cache
def _admin_prefix():
    # Asked for each event of a request: the URLs do not change while the process runs.
    return reverse("admin:index")


SYSTEM = Door(None, "", Via.SYSTEM)
_current = contextvars.ContextVar("audit_door", default=None)


def current():
    """The `Door` of the code that runs now (`SYSTEM` when no door was set)."""
    door = _current.get()
    return SYSTEM if door is None else door.resolve()


@contextmanager
def acting(actor, via, via_detail=""):
    """Runs the block as `actor` (a user, or a process's name) through `via`."""
    token = _current.set(door_of(actor, via, via_detail))
    try:
        yield
    finally:
        _current.reset(token)


class RequestDoorMiddleware:
    """Every request is a door: the admin's under its path, the API's elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(RequestDoor(request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


class AuditedCommand:
    """Mixed into a management command (before `BaseCommand`): its writes are recorded as
    its own ("command NAME")."""

    def execute(self, *args, **options):
        name = type(self).__module__.rpartition(".")[2]
        with acting(f"command {name}", Via.COMMAND, name):
            return super().execute(*args, **options)


_task_tokens = {}


@signals.task_prerun.connect(weak=False)
def _task_starts(task_id=None, task=None, **kwargs):
    name = getattr(task, "name", "") or ""
    _task_tokens[task_id] = _current.set(Door(None, f"task {name}", Via.TASK, task_id or ""))


@signals.task_postrun.connect(weak=False)
def _task_ends(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _current.reset(token)


def request_id():
    """The id of the request (or task) this code runs for, or ""."""
    return requestid.current() or ""
