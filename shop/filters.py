"""Filter backends and filters shared by every API list and detail view."""

import django_filters
from rest_framework.filters import BaseFilterBackend

from shop.params import MAX_BIGINT, MIN_BIGINT, IntegerField


class OwnerScopeFilter(BaseFilterBackend):
    """Narrows a viewset's rows to the requesting customer's own.

    A viewset opts in with `owner_field`: the lookup that leads from a row to
    its owning user (`"pk"` for the users themselves, `"user"` for purchases).
    Staff see every row. Because `get_object()` filters too, another customer's
    row is simply not found (404): ids of other customers do not leak.
    """

    # Applies to single objects too, not only to lists (see ShopViewSet.filter_queryset).
    scopes_rows = True

    def filter_queryset(self, request, queryset, view):
        owner_field = getattr(view, "owner_field", None)
        user = request.user
        if owner_field is None or (user.is_authenticated and user.is_staff):
            return queryset
        if not user.is_authenticated:
            return queryset.none()
        return queryset.filter(**{owner_field: user.pk})


class IdFilter(django_filters.NumberFilter):
    """An integer id in ASCII digits (`shop.params`), bounded to the database's 64-bit keys."""

    field_class = IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", MIN_BIGINT)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)
