"""Staff record and correct purchases; every write goes through `purchases.services`.

The price a customer pays is the server's: the form never has a price field, and
saving calls `create_purchase`/`update_purchase`, which take the product's price
(and the email, sku and name snapshots) inside the write's transaction, as for the API.

A purchase's page lists its refunds and has a Refund page (`refund_view`), which calls
`purchases.refunds.refund_purchase`, as the API does; a customer's page shows their
lifetime totals net of refunds and their latest refunds.

The list exports to CSV (its filters and search applied, or the rows selected) with
the API's columns and streaming writer (`shop.exports`). Amounts are shown in the
shop's currency (`shop.money`).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from products.admin_filters import PurchaseCategoryFilter
from products.models import Product
from products.services import parse_price
from purchases import refunds, services
from purchases.admin_columns import MoneyColumns, refunds_table
from purchases.admin_views import sales_view
from purchases.exports import PURCHASE_COLUMNS
from purchases.models import Purchase, Refund
from shop.admin import ServiceAdmin, adopt
from shop.admin_lists import LargeListAdmin
from shop.exports import csv_response
from shop.money import format_money
from shop.params import is_ascii_digits
from users.admin import customer_label
from users.models import User

REFUND = "purchases.refund_purchase"  # the permission to give refunds
# Customers (and products) a word of the purchase search may match: a word that matches more
# is not a search for someone's purchases; the list shows those of the first found.
SEARCH_MATCHES = 1000
EXPORT_FILENAME = "purchases.csv"

SNAPSHOT_FIELDS = ("paid_unit_price", "paid_total", "customer_email", "product_sku", "product_name")
REFUNDED_FIELDS = ("units_returned", "money_refunded", "net_paid", "refunds_given")


class CustomerFilter(admin.SimpleListFilter):
    """`?customer=<user id>`: one customer's purchases (the link on a user's page).

    It shows in the sidebar only while it is applied: listing every customer there
    would not scale, and the search box finds a customer by name or email.
    """

    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        value = self.value()
        if is_ascii_digits(value):
            user = User.objects.filter(pk=value).only("email", "first_name", "last_name").first()
            if user is not None:
                return [(str(user.pk), customer_label(user))]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not is_ascii_digits(value):
            return queryset.none()
        return queryset.filter(user_id=value)


class DateFilter(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "date"


class PurchaseForm(forms.ModelForm):
    """The purchase form: the quantity's ceiling is the service's (`check_quantity`), and so
    is what a correction may not undo of the refunds given (`check_correction`)."""

    def clean(self):
        cleaned_data = super().clean()
        quantity = cleaned_data.get("quantity")
        if quantity is not None:
            try:
                services.check_quantity(quantity)
            except ValidationError as error:
                self.add_error(None, error)
        if self.instance.pk is not None:
            product = cleaned_data.get("product")
            try:
                services.check_correction(
                    self.instance,
                    moves_product=product is not None and product.pk != self.instance.product_id,
                    quantity=services.UNSET if quantity is None else quantity,
                )
            except ValidationError as error:
                self.add_error(None, error.messages)
        return cleaned_data


class RefundForm(forms.Form):
    """The Refund page's form: read, not judged (`purchases.refunds` is)."""

    quantity = forms.IntegerField(
        required=False,
        label="Units returned",
        help_text="Refunded at the unit price paid, unless you give an amount.",
    )
    amount = forms.CharField(
        required=False,
        label="Amount refunded",
        help_text="For example 12.50. With units: what is refunded for them (less a restocking "
        "fee, say). Alone: money back, no unit returned.",
    )
    reason = forms.ChoiceField(choices=[("", "---------"), *Refund.Reason.choices])
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_amount(self):
        # Written as a price is: the catalogue's one reading of a price.
        text = self.cleaned_data["amount"].strip()
        return parse_price(text) if text else None


@admin.register(Purchase)
class PurchaseAdmin(LargeListAdmin, MoneyColumns, ServiceAdmin, admin.ModelAdmin):
    list_display = (
        "bought_at",
        "customer",
        "product_label",
        "units",
        "paid_unit_price",
        "paid_total",
    )
    form = PurchaseForm
    list_display_links = ("bought_at",)
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
        PurchaseCategoryFilter,
    )
    date_hierarchy = "created_at"
    autocomplete_fields = ("user", "product")
    readonly_fields = (*SNAPSHOT_FIELDS, *REFUNDED_FIELDS, "created_at", "price_note")
    change_list_template = "admin/purchases/purchase/change_list.html"
    change_form_template = "admin/purchases/purchase/change_form.html"
    actions = ["export_selected"]

    def get_search_results(self, request, queryset, search_term):
        """Each word is part of the customer's name or email or of the product's SKU or name.

        The customers and the products are found first, by their own indexed searches (at
        most `SEARCH_MATCHES` of each per word), then their purchases through the purchases'
        indexes by customer and by product: a join of those searches with the purchases
        would read the purchases in date order, all of them for a rare word. The purchase's
        own copies of the email, SKU and name, unindexed on a table this size, are not
        searched: a deleted customer's purchases are found by product or by date.
        """
        for word in search_term.split():
            customers = User.objects.search(word).order_by().values_list("pk", flat=True)
            products = Product.objects.search(word, fields=("sku", "name")).order_by()
            queryset = queryset.filter(
                Q(user_id__in=list(customers[:SEARCH_MATCHES]))
                | Q(product_id__in=list(products.values_list("pk", flat=True)[:SEARCH_MATCHES]))
            )
        return queryset, False

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
            (
                "Refunds",
                {
                    "description": "What its refunds add up to, and each of them, newest "
                    "first. The Refund button above gives one.",
                    "fields": REFUNDED_FIELDS,
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
        if db_field.name == "user":
            # As the list says, and as the picker's choices read (name and email).
            formfield.label = "Customer"
            formfield.label_from_instance = customer_label
        return formfield

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "user" not in form.base_fields:
            return form  # a role that only reads purchases: every field is shown read-only
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
        export = self.admin_site.admin_view(self.export_view)
        refund = self.admin_site.admin_view(self.refund_view)
        return [
            path("sales/", sales, name="purchases_purchase_sales"),
            path("export/", export, name="purchases_purchase_export"),
            path("<path:object_id>/refund/", refund, name="purchases_purchase_refund"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The list as CSV, as it is shown: its filters, search and order; every page.

        The rows are the change list's own queryset (`get_changelist_instance`),
        so the export cannot disagree with what staff filtered on the page.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # As the list itself answers a filter it cannot apply: back to it, saying so.
            url = reverse("admin:purchases_purchase_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        return csv_response(changelist.get_queryset(request), PURCHASE_COLUMNS, EXPORT_FILENAME)

    def refund_view(self, request, object_id):
        """The Refund page of a purchase: the form, what remains to refund, and on a valid
        form the refund given through the service, back to the purchase's page. What the
        service refuses shows as a message above the form, which keeps what was typed."""
        purchase = self.get_object(request, unquote(object_id))
        if purchase is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not request.user.has_perm(REFUND):
            raise PermissionDenied
        form = RefundForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                refund = refunds.refund_purchase(purchase, by=request.user, **form.cleaned_data)
            except ValidationError as refusal:
                for message in refusal.messages:
                    self.message_user(request, message, messages.ERROR)
            except Purchase.DoesNotExist:
                self.message_user(request, "This purchase was deleted meanwhile.", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:purchases_purchase_changelist"))
            else:
                units = f"{refund.quantity:,} units returned, " if refund.quantity else ""
                self.message_user(
                    request,
                    f"Refunded {units}{format_money(refund.amount)} on purchase #{purchase.pk}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:purchases_purchase_change", args=[purchase.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": purchase,
            "title": f"Refund purchase #{purchase.pk}",
            "form": form,
            "paid": format_money(purchase.total),
            "money_left": format_money(purchase.net_total),
            "units_left": f"{purchase.units_remaining:,}",
        }
        return TemplateResponse(request, "admin/purchases/purchase/refund.html", context)

    @admin.display(description="units returned")
    def units_returned(self, purchase):
        return f"{purchase.refunded_quantity:,}"

    @admin.display(description="money refunded")
    def money_refunded(self, purchase):
        return format_money(purchase.refunded_amount)

    @admin.display(description="net paid")
    def net_paid(self, purchase):
        return format_money(purchase.net_total)

    @admin.display(description="refunds")
    def refunds_given(self, purchase):
        return refunds_table(purchase.refunds.all(), with_purchase=False)

    @admin.action(description="Export selected purchases to CSV")
    def export_selected(self, request, queryset):
        return csv_response(queryset, PURCHASE_COLUMNS, EXPORT_FILENAME)

    def save_model(self, request, obj, form, change):
        # The price snapshot is the server's: the service takes it, as for the API.
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            saved = services.update_purchase(obj, **data)
        else:
            saved = services.create_purchase(
                by=request.user, user=obj.user, product=obj.product, quantity=obj.quantity
            )
        adopt(obj, saved)

    def delete_model(self, request, obj):
        services.delete_purchase(obj)

    def delete_queryset(self, request, queryset):
        # One transaction, every lock in the shop's order (`shop.locking`).
        services.delete_purchases(queryset)

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
            '<a href="{}" class="nowrap">{}</a> {}',
            url,
            purchase.product_sku,
            purchase.product_name,
        )

    @admin.display(description="date", ordering="created_at")
    def bought_at(self, purchase):
        # Short and sortable by eye; the purchase's page has the full date and time.
        return f"{timezone.localtime(purchase.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="unit price")
    def price_note(self, purchase):
        return "The product's current price, taken when you save."
