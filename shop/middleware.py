"""Middleware of the project's own."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from shop.error_responses import bad_request, not_found


class JsonErrorsMiddleware:
    """The API's JSON errors in development too.

    With `DEBUG` on, Django answers a 404, or a body past `DATA_UPLOAD_MAX_MEMORY_SIZE`,
    with its HTML debug pages instead of the project's handlers (`shop.error_responses`): a
    client developing against `make run` would meet other answers than in production.
    The admin keeps Django's pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/admin/")
        ):
            return not_found(request)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return bad_request(request, exception)  # 413, JSON
        return None
