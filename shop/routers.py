"""Routing that keeps the old Express service's paths working."""

from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """A router whose every route matches with and without a trailing slash.

    Both forms are served by the same view, for every method, with no redirect:
    old clients POST to `/users`, Django users expect `/users/`.
    Lookups match any path segment so that a non-integer id reaches the view and
    answers a JSON 404 instead of falling through to the URL resolver.
    """

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


def optional_slash(route):
    """The regex for a hand-written path (`"auth/token"`) matching both slash forms."""
    return rf"^{route.strip('/')}/?$"
