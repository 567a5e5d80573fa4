"""Middleware of the project's own."""

from django.conf import settings

from shop.exceptions import not_found


class JsonNotFoundMiddleware:
    """Unknown paths answer the API's JSON 404 in development too.

    With `DEBUG` on, Django answers a 404 with its HTML debug page instead of the
    project's handler (`shop.exceptions.not_found`): a client developing against
    `make run` would meet a different answer than in production. The admin keeps
    Django's pages.
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
