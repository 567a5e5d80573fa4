"""Staff record and correct purchases; every write goes through `purchases.services`.

The price a customer pays is the server's: the form never has a price field, and
saving calls `create_purchase`/`update_purchase`, which take the product's price
(and the email, sku and name snapshots) inside the write's transaction, as for the API.
"""

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from purchases import services
from purchases.admin_views import sales_view
from purchases.models import Purchase
from shop.admin import StaffMayManage
from users.models import User

SNAPSHOT_FIELDS = ("unit_price", "total", "customer_email", "product_sku", "product_name")


class CustomerFilter(admin.SimpleListFilter):
    """`?customer=<user id>`: one customer's purchases (the link on a user's page).

    It shows in the sidebar only while it is applied: listing every customer there
    would not scale, and the search box finds a customer by name or email.
    """

    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            user = User.objects.filter(pk=value).only("email").first()
            if user is not None:
                return [(str(user.pk), user.email)]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(user_id=value)


class DateFilter(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "date"


class ProductCategoryFilter(admin.AllValuesFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "product category"


@admin.register(Purchase)
class PurchaseAdmin(StaffMayManage, admin.ModelAdmin):
    list_display = (
        "created_at",
        "customer",
        "product_label",
        "quantity",
        "unit_price",
        "total",
    )
    list_display_links = ("created_at",)
    list_select_related = ("user",)
    search_fields = (
        "customer_email",
        "product_sku",
        "product_name",
        "user__email",
        "user__first_name",
        "user__last_name",
    )
    search_help_text = "Search by customer name or email, product SKU or product name."
    list_filter = (
        CustomerFilter,
        ("created_at", DateFilter),
        ("product__category", ProductCategoryFilter),
    )
    date_hierarchy = "created_at"
    autocomplete_fields = ("user", "product")
    readonly_fields = (*SNAPSHOT_FIELDS, "created_at", "price_note")
    change_list_template = "admin/purchases/purchase/change_list.html"

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("user", "product", "quantity", "price_note")})]
        return [
            (None, {"fields": ("user", "product", "quantity", "created_at")}),
            (
                "As recorded when the purchase was made",
                {
                    "description": (
                        "The price paid and the names at the time of purchase, kept by the "
                        "shop so the record stays right whatever changes later. They are set "
                        "when the purchase is saved, never typed."
                    ),
                    "fields": SNAPSHOT_FIELDS,
                },
            ),
        ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("user", "product"):
            # No "change" or "delete" buttons beside the choice: deleting a customer from a
            # purchase form is never what was meant. Adding and viewing stay.
            formfield.widget.can_change_related = False
            formfield.widget.can_delete_related = False
        return formfield

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # A purchase is someone's: required, unless the customer has since been deleted.
        form.base_fields["user"].required = obj is None or obj.user_id is not None
        if obj is not None:
            form.base_fields[
                "product"
            ].help_text = (
                "Choosing another product re-prices the purchase at that product's current price."
            )
        return form

    def get_urls(self):
        sales = self.admin_site.admin_view(sales_view(self))
        return [path("sales/", sales, name="purchases_purchase_sales"), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        # The price snapshot is the server's: the service takes it, as for the API.
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            saved = services.update_purchase(obj, **data)
        else:
            saved = services.create_purchase(
                user=obj.user, product=obj.product, quantity=obj.quantity
            )
        # The admin goes on with `obj` (its message, its log entry, the redirect).
        for field in Purchase._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def delete_model(self, request, obj):
        services.delete_purchase(obj)

    @admin.display(description="customer", ordering="customer_email")
    def customer(self, purchase):
        if purchase.user is None:
            return f"{purchase.customer_email} (customer deleted)"
        url = reverse("admin:users_user_change", args=[purchase.user_id])
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            url,
            purchase.user.email,
            purchase.user.get_full_name(),
        )

    @admin.display(description="product", ordering="product_sku")
    def product_label(self, purchase):
        url = reverse("admin:products_product_change", args=[purchase.product_id])
        return format_html(
            '<a href="{}">{}</a> {}', url, purchase.product_sku, purchase.product_name
        )

    @admin.display(description="unit price")
    def price_note(self, purchase):
        return "The product's current price, taken when you save."
