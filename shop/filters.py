"""Filter backends and filters shared by every API list and detail view."""

import django_filters
from rest_framework.filters import BaseFilterBackend

from shop.params import MAX_BIGINT, MIN_BIGINT, IntegerField
from shop.permissions import staff_may


class OwnerScopeFilter(BaseFilterBackend):
    """Narrows a view's rows to the requesting customer's own: the one place that does.

    A view opts in with `owner_field`: the lookup that leads from a row to its owning
    user (`"pk"` for the users themselves, `"user"` for purchases); an action may name
    its own (`@action(owner_field=…)`). Staff who hold the view's permission see every
    row (`shop.permissions.staff_may`); anyone else signed in, their own. Because
    `get_object()` filters too, another customer's row is simply not found (404): ids of
    other customers do not leak.
    """

    # Applies to single objects too, not only to lists (see ShopViewSet.filter_queryset).
    scopes_rows = True

    def filter_queryset(self, request, queryset, view):
        owner_field = getattr(view, "owner_field", None)
        if owner_field is None or staff_may(request, view):
            return queryset
        if not request.user.is_authenticated:
            return queryset.none()
        return queryset.filter(**{owner_field: request.user.pk})


class IdFilter(django_filters.NumberFilter):
    """An integer id in ASCII digits (`shop.params`), bounded to the database's 64-bit keys."""

    field_class = IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", MIN_BIGINT)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)
