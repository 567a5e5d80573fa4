"""What every admin page of the shop shares."""

from django.contrib import admin


class StaffMayManage:
    """Gives every staff member full use of a shop model's admin.

    SPEC 4.6 makes staff able to do everything; the admin follows the API
    rather than Django's per-model permissions, so a staff account made by
    `ensure_staff` or in the admin works on its first sign-in without groups.
    Django's own models (groups, permissions) keep their usual rules.
    """

    def _is_staff(self, request):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return self._is_staff(request)

    def has_view_permission(self, request, obj=None):
        return self._is_staff(request)

    def has_add_permission(self, request, *args):
        return self._is_staff(request)

    def has_change_permission(self, request, obj=None):
        return self._is_staff(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_staff(request)


# The site's titles, and an index with the shop's own pages (sales, backfill) above the models.
admin.site.site_header = "Shop back office"
admin.site.site_title = "Shop back office"
admin.site.index_title = "Back office"
admin.site.index_template = "admin/shop/index.html"
