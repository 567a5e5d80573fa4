"""One JSON error format for the whole API: `{"detail": ...}` or a field → messages map."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

# Seconds a client is told to wait when SQLite's write lock stayed taken too long.
BUSY_RETRY_AFTER = 5


class DatabaseBusy(exceptions.APIException):
    """503: SQLite's single write lock stayed held (by a backfill, say) past the wait."""

    status_code = 503
    default_detail = "The database is busy; retry shortly."
    default_code = "database_busy"
    wait = BUSY_RETRY_AFTER  # DRF's handler sends it as `Retry-After`, as for a 429


def exception_handler(exc, context):
    """DRF's handler, plus Django's `ValidationError` (models, services) as 400 and
    SQLite's "database is locked" as 503 with `Retry-After` (nothing was written)."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, OperationalError) and "database is locked" in str(exc):
        exc = DatabaseBusy()
    return drf_exception_handler(exc, context)


class Conflict(exceptions.APIException):
    """409: a valid request colliding with the current state (a locked run, a product in use)."""

    status_code = 409
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def not_found(request, exception=None):
    """JSON 404 for paths no route matches (the API's clients never want an HTML page)."""
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)


def bad_request(request, exception=None):
    """JSON 400; a body past `DATA_UPLOAD_MAX_MEMORY_SIZE` is 413, as the upload limit is."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": "The request body is too large."}, status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception=None):
    return JsonResponse(
        {"detail": "You do not have permission to perform this action."}, status=403
    )
