"""How errors become HTTP answers: one JSON format, `{"detail": ...}` or a field → messages map.

The one place where the project's own exceptions (`shop.errors`), Django's
(`ValidationError`, `Model.DoesNotExist`) and SQLite's lock timeout get their status: DRF's
handler for the API (`REST_FRAMEWORK["EXCEPTION_HANDLER"]`), and Django's `handler400`,
`handler403`, `handler404` and `handler500` (`shop/urls.py`) for everything else.
"""

import logging
import sqlite3
import sys

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from shop import errors

# The HTTP answer of each of the project's exceptions: (status, code for clients).
ANSWERS = {
    errors.Conflict: (status.HTTP_409_CONFLICT, "conflict"),
    errors.Forbidden: (status.HTTP_403_FORBIDDEN, "permission_denied"),
    errors.PayloadTooLarge: (status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "payload_too_large"),
    errors.Busy: (status.HTTP_503_SERVICE_UNAVAILABLE, "busy"),
    errors.QueueUnavailable: (status.HTTP_503_SERVICE_UNAVAILABLE, "queue_unavailable"),
    errors.RateLimited: (status.HTTP_429_TOO_MANY_REQUESTS, "throttled"),
    errors.IdempotencyKeyReused: (status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
    errors.DatabaseUnavailable: (status.HTTP_503_SERVICE_UNAVAILABLE, "database_unavailable"),
    errors.SecondFactorNeeded: (status.HTTP_401_UNAUTHORIZED, "second_factor_required"),
    errors.SecondFactorRejected: (status.HTTP_401_UNAUTHORIZED, "second_factor_rejected"),
}

logger = logging.getLogger(__name__)


def as_api_exception(exc):
    """The DRF exception that answers for `exc`, or `exc` itself when DRF knows it already."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, ObjectDoesNotExist):
        # The row was there when the request began and is gone now (deleted meanwhile).
        return exceptions.NotFound()
    if isinstance(exc, OperationalError) and sqlite_lock_timed_out(exc):
        exc = errors.Busy()
    for kind, (status_code, code) in ANSWERS.items():
        if isinstance(exc, kind):
            answer = exceptions.APIException(exc.message, code)
            answer.status_code = status_code
            if isinstance(exc, errors.Busy | errors.RateLimited | errors.DatabaseUnavailable):
                answer.wait = exc.retry_after  # sent as `Retry-After` by DRF's handler
            return answer
    return exc


def sqlite_lock_timed_out(exc):
    """Whether SQLite gave up waiting for a lock (by its error code; PostgreSQL waits instead)."""
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    # The primary code is the low byte of an extended one (SQLITE_BUSY_SNAPSHOT is BUSY's).
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def exception_handler(exc, context):
    """DRF's handler, after turning the project's and Django's exceptions into DRF's."""
    if isinstance(exc, errors.DatabaseUnavailable):
        log_unavailable(exc)
    answer = as_api_exception(exc)
    view = context.get("view")
    if getattr(answer, "status_code", None) == 401 and view is not None:
        # A 401 names the scheme that would be accepted (`WWW-Authenticate`), as DRF's own do.
        answer.auth_header = getattr(answer, "auth_header", None) or view.get_authenticate_header(
            context["request"]
        )
    return drf_exception_handler(answer, context)


def log_unavailable(exc):
    """The reason a database connection could not be made (the client is told only to retry)."""
    cause = exc.__cause__ or exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    logger.error("The database cannot be reached: %s", reason)


def json_error(detail, status):
    """An error answered by Django itself, written as DRF writes its own (compact JSON)."""
    return JsonResponse({"detail": detail}, status=status, json_dumps_params=COMPACT)


COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


def not_found(request, exception=None):
    """JSON 404 for paths no route matches (the API's clients never want an HTML page)."""
    return json_error("Not found.", 404)


def server_error(request):
    """JSON 500; a database that cannot be reached is 503 with `Retry-After` (nothing was done).

    Django calls it while handling the exception (a view's outside DRF, the admin's, or a
    middleware's), so the exception is `sys.exception()`.
    """
    exc = sys.exception()
    if isinstance(exc, errors.DatabaseUnavailable):
        log_unavailable(exc)
        response = json_error(exc.message, 503)
        response["Retry-After"] = str(exc.retry_after)
        return response
    return json_error("Internal server error.", 500)


def bad_request(request, exception=None):
    """JSON 400; a body past `DATA_UPLOAD_MAX_MEMORY_SIZE` is 413, as the upload limit is."""
    if isinstance(exception, RequestDataTooBig):
        return json_error("The request body is too large.", 413)
    return json_error("Bad request.", 400)


def permission_denied(request, exception=None):
    """JSON 403 for the API; in the admin, a page of the admin that says so in words."""
    if request.path.startswith(reverse("admin:index")):
        from django.contrib import admin

        context = {
            **admin.site.each_context(request),
            "title": "You cannot open this page",
        }
        return TemplateResponse(request, "admin/shop/permission_denied.html", context, status=403)
    return json_error("You do not have permission to perform this action.", 403)
