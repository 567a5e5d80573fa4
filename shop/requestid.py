"""The request id: one name for everything a request caused, in every log line it wrote.

- `RequestIdMiddleware`, first in `MIDDLEWARE`, takes the id from `X-Request-ID` (nginx
  sets one for every request: `$request_id`) when it is a plausible id, or makes one up,
  and returns it in the answer's `X-Request-ID`. A value that is not 1 to 128 characters
  of `[A-Za-z0-9._:-]` is replaced, never cleaned up and kept: a client could otherwise put
  a line break (a forged log line) or a wall of text into every line of its request.
- The id lives in a context variable for as long as the request runs; `RequestIdFilter`,
  on the log handlers, adds it to every record (`-` outside a request).
- A Celery task queued while a request runs carries the id in a message header and runs
  with it set (the signal handlers below), so its log lines name the request that queued
  it. A task queued from another task keeps the id too.
- The backfill run queued or started by a request records it (`BackfillRun.request_id`).
"""

import contextvars
import logging
import re
import uuid

from celery import signals

HEADER = "X-Request-ID"
TASK_HEADER = "shop_request_id"
VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
NONE = "-"

_current = contextvars.ContextVar("shop_request_id", default=None)


def current():
    """The id of the request (or task) this code runs for, or None."""
    return _current.get()


def valid(value):
    return isinstance(value, str) and VALID.fullmatch(value) is not None


def new_id():
    return uuid.uuid4().hex


def activate(value):
    """Sets the id for the code that follows (a token for `deactivate`)."""
    return _current.set(value)


def deactivate(token):
    _current.reset(token)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID")
        request_id = given if valid(given) else new_id()
        request.request_id = request_id
        token = activate(request_id)
        try:
            response = self.get_response(request)
        finally:
            deactivate(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (set on handlers, so that every logger's lines get it)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = current() or NONE
        return True


@signals.before_task_publish.connect(weak=False)
def _send_request_id(headers=None, **kwargs):
    request_id = current()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


_task_tokens = {}


@signals.task_prerun.connect(weak=False)
def _task_starts(task_id=None, task=None, **kwargs):
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    # An eager task runs inside the request that queued it: the id is set already.
    if valid(request_id) and current() is None:
        _task_tokens[task_id] = activate(request_id)


@signals.task_postrun.connect(weak=False)
def _task_ends(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        deactivate(token)
