"""Who may do what: the SPEC 4.6 table, declared by each viewset in one line.

    permission_classes = [ByAction(create=Anyone, list=Staff, default=Customer)]

`Customer` means "any signed-in user"; which rows a customer may touch is
decided by `shop.filters.OwnerScopeFilter` from the viewset's `owner_field`,
so another customer's row answers 404 and its existence does not leak.
"""

from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission, IsAuthenticated

Anyone = AllowAny
Customer = IsAuthenticated


class Staff(BasePermission):
    """Signed-in staff members only."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class AnonymousOrStaff(BasePermission):
    """Signing up: for visitors, and for staff creating customers; a signed-in customer may not."""

    def has_permission(self, request, view):
        user = request.user
        return not (user and user.is_authenticated) or user.is_staff


class ReadAnyoneWriteStaff(BasePermission):
    """Anyone may read; only staff may change (the product catalogue)."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or Staff().has_permission(request, view)


class ByAction(BasePermission):
    """Picks a permission class by the viewset action (`list`, `create`, ...).

    An instance stands in for a class in `permission_classes`: DRF calls it to
    get the permission object, and it returns itself. Actions not named fall
    back to `default`, which is staff-only unless said otherwise, so a new
    action is closed until someone opens it.
    """

    def __init__(self, default=Staff, **rules):
        self.default = default
        self.rules = rules

    def __call__(self):
        return self

    def rule_for(self, view):
        return self.rules.get(getattr(view, "action", None), self.default)()

    def has_permission(self, request, view):
        return self.rule_for(view).has_permission(request, view)

    def has_object_permission(self, request, view, obj):
        return self.rule_for(view).has_object_permission(request, view, obj)
