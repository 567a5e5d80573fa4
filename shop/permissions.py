"""Who may call what: one permission class that reads what each view declares.

A view names the Django permission staff need to call it, as pretix's views do:

    permission = "purchases.view_purchase"            # to read (GET, HEAD, OPTIONS)
    write_permission = "purchases.change_purchase"    # to write (any other method)
    action_permissions = {"create": "purchases.add_purchase"}   # an action's own, over both

and who else may call an action (a viewset's action, or a plain view's method in lower
case; `OPTIONS` is `metadata`), besides the staff who hold its permission:

    open_to = {"create": CUSTOMERS, "list": CUSTOMERS}

Which rows a customer reaches is `shop.filters.OwnerScopeFilter`'s to decide, from the
viewset's `owner_field`: another customer's row answers 404, so its existence does not
leak. Staff are judged by their permissions alone: a role without the view's permission
gets 403 even where customers are let in. A view that declares nothing is closed to all
but superusers, so a new view is closed until someone opens it.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

# Who else may call an action (`open_to`), besides the staff who hold its permission.
ANYONE = "anyone"  # signed in or not
VISITORS = "visitors"  # not signed in (signing up); a signed-in customer may not
SIGNED_IN = "signed in"  # anyone signed in, staff of any role too: their own session and tokens
CUSTOMERS = "customers"  # signed-in customers, on their own rows (`OwnerScopeFilter`)


def is_staff(user):
    """Whether `user` is an active, signed-in member of staff: the one definition the API,
    the admin and the second factor share."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def action_of(request, view):
    """What a view's declarations are keyed by: a viewset's action, else the method in lower
    case; `HEAD` is `get`'s, and `OPTIONS` is `metadata` (DRF's name for it in viewsets)."""
    action = getattr(view, "action", None)
    if action is not None:
        return action
    method = request.method.lower()
    return {"head": "get", "options": "metadata"}.get(method, method)


def required_permission(request, view):
    """The Django permission that lets staff call `view` with `request`, or None if the view
    declares none (then only a superuser may)."""
    action = action_of(request, view)
    by_action = getattr(view, "action_permissions", {})
    if action in by_action:
        return by_action[action]
    permission = getattr(view, "permission", None)
    if request.method in SAFE_METHODS:
        return permission
    return getattr(view, "write_permission", None) or permission


def staff_may(request, view):
    """Whether the request's user calls `view` as staff holding its permission (their
    role's, `docs/admin.md`), and so reaches every row rather than only their own. A
    superuser holds every permission."""
    user = request.user
    if not is_staff(user):
        return False
    permission = required_permission(request, view)
    return user.is_superuser if permission is None else user.has_perm(permission)


class DeclaredPermissions(BasePermission):
    """The API's one permission class (`DEFAULT_PERMISSION_CLASSES`): the view's
    declarations (`permission`, `write_permission`, `action_permissions`, `open_to`)
    decide. Refused, an anonymous caller gets 401 and a signed-in one 403."""

    def has_permission(self, request, view):
        if staff_may(request, view):
            return True
        audience = getattr(view, "open_to", {}).get(action_of(request, view))
        user = request.user
        signed_in = bool(user and user.is_authenticated)
        if audience == ANYONE:
            return True
        if audience == VISITORS:
            return not signed_in
        if audience == SIGNED_IN:
            return signed_in
        if audience == CUSTOMERS:
            return signed_in and not is_staff(user)
        return False
