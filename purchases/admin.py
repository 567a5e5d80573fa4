"""A minimal admin for purchases; writes go through `purchases.services` like the API's."""

from django.contrib import admin

from purchases import services
from purchases.models import Purchase


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "customer_email",
        "product_sku",
        "product_name",
        "quantity",
        "unit_price",
        "total",
    )
    list_select_related = False  # every column shown is on the purchase row itself
    search_fields = ("customer_email", "product_sku", "product_name")
    list_filter = ("created_at",)
    date_hierarchy = "created_at"
    raw_id_fields = ("user", "product")
    readonly_fields = (
        "unit_price",
        "total",
        "customer_email",
        "product_sku",
        "product_name",
        "created_at",
    )
    fields = ("user", "product", "quantity", *readonly_fields)

    def save_model(self, request, obj, form, change):
        # The price snapshot is the server's: the service takes it, as for the API.
        if change:
            data = {name: getattr(obj, name) for name in form.changed_data}
            saved = services.update_purchase(obj, **data)
        else:
            saved = services.create_purchase(
                user=obj.user, product=obj.product, quantity=obj.quantity
            )
        obj.pk = saved.pk
