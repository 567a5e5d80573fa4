"""Filter backends shared by every API list and detail view."""

from rest_framework.filters import BaseFilterBackend


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
