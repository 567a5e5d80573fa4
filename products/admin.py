"""A first admin for the catalogue and the backfill history (the full admin is a later issue)."""

from django.contrib import admin

from products.models import BackfillRun, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "updated_at"]
    list_filter = ["category"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(BackfillRun)
class BackfillRunAdmin(admin.ModelAdmin):
    """Read-only: runs are records of what happened."""

    list_display = [
        "id",
        "source",
        "origin",
        "started_by",
        "started_at",
        "status",
        "created",
        "updated",
        "unchanged",
        "rejected",
    ]
    list_filter = ["status", "origin"]
    list_select_related = ["started_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
