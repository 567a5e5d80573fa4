"""A customer's purchases and refunds on their page in the user admin: lifetime totals, the
latest purchases and refunds (`CustomerPurchasesAdmin`, which `users.admin.UserAdmin` mixes in)."""

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.db.models import Count, F, Max, Min
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html
from knox.models import AuthToken

from purchases import money
from purchases.admin_columns import MoneyColumns, refunds_table
from purchases.models import Purchase, Refund
from shop.admin import ReadOnly, ServiceAdmin
from shop.money import format_money

LATEST_PURCHASES = 20
LATEST_REFUNDS = 20


class LatestPurchasesFormSet(BaseInlineFormSet):
    """Only the newest purchases: a long-standing customer's page stays light."""

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")[:LATEST_PURCHASES]


class PurchaseInline(MoneyColumns, ReadOnly, ServiceAdmin, admin.TabularInline):
    """The customer's latest purchases, read-only (purchases are changed on their own page)."""

    model = Purchase
    formset = LatestPurchasesFormSet
    template = "admin/purchases/purchase/latest_purchases_inline.html"
    fk_name = "user"
    verbose_name = "purchase"
    verbose_name_plural = f"latest purchases (the {LATEST_PURCHASES} newest)"
    fields = (
        "purchase",
        "created_at",
        "product_sku",
        "product_name",
        "units",
        "paid_unit_price",
        "paid_total",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="purchase")
    def purchase(self, purchase):
        url = reverse("admin:purchases_purchase_change", args=[purchase.pk])
        return format_html('<a href="{}">#{}</a>', url, purchase.pk)


NO_PURCHASES = {
    "total_spent": None,
    "total_refunded": None,
    "purchase_count": 0,
    "first_purchase": None,
    "last_purchase": None,
}


def lifetime_totals(user):
    """What the customer has bought, over all time: one aggregate query, kept on `user`.

    `{"total_spent", "total_refunded", "purchase_count", "first_purchase",
    "last_purchase"}`; `total_spent` is net of refunds. The query reads the customer's
    purchases through `purchases_user_history_idx`; the page's fields share its answer.
    """
    if user.pk is None:
        return NO_PURCHASES
    if "_lifetime_totals" not in user.__dict__:
        user._lifetime_totals = (
            Purchase.objects.filter(user=user)
            .order_by()
            .aggregate(
                total_spent=money.NetSum(),
                total_refunded=money.MoneySum(F("refunded_amount")),
                purchase_count=Count("*"),
                first_purchase=Min("created_at"),
                last_purchase=Max("created_at"),
            )
        )
    return user._lifetime_totals


class CustomerPurchasesAdmin:
    """What the user admin (`users.admin.UserAdmin`) shows of a customer's purchases: their
    lifetime totals net of refunds, a link to all of them, the latest purchases and refunds,
    and on the delete page what deleting the customer keeps and revokes."""

    inlines = (PurchaseInline,)
    LIFETIME_FIELDS = (
        "total_spent",
        "total_refunded",
        "purchase_count",
        "first_purchase",
        "last_purchase",
    )
    PURCHASE_FIELDS = (*LIFETIME_FIELDS, "all_purchases", "latest_refunds")

    delete_confirmation_template = "admin/purchases/customer_delete_confirmation.html"

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    # Not the shop's own running totals (kept by the services), nor each API token by its
    # digest: the page says how many tokens stop working, and that the purchases are kept
    # (`render_delete_form`).
    unlisted_on_delete = ("purchases.CustomerSales", "knox.AuthToken")

    def render_delete_form(self, request, context):
        user = context["object"]
        context.update(
            kept_purchases=f"{Purchase.objects.filter(user=user).count():,}",
            revoked_tokens=AuthToken.objects.filter(user=user).count(),
        )
        return super().render_delete_form(request, context)

    @admin.display(description="total spent (net of refunds)")
    def total_spent(self, user):
        return format_money(lifetime_totals(user)["total_spent"] or 0)

    @admin.display(description="total refunded")
    def total_refunded(self, user):
        return format_money(lifetime_totals(user)["total_refunded"] or 0)

    @admin.display(description=f"latest refunds (the {LATEST_REFUNDS} newest)")
    def latest_refunds(self, user):
        """The refunds of the customer's purchases, newest first: one query."""
        if user.pk is None:
            return "No refunds."
        latest = Refund.objects.filter(purchase__user=user).order_by("-created_at", "-id")
        return refunds_table(latest[:LATEST_REFUNDS], with_purchase=True)

    @admin.display(description="number of purchases")
    def purchase_count(self, user):
        return f"{lifetime_totals(user)['purchase_count']:,}"

    @admin.display(description="first purchase")
    def first_purchase(self, user):
        return self._when(lifetime_totals(user)["first_purchase"])

    @admin.display(description="last purchase")
    def last_purchase(self, user):
        return self._when(lifetime_totals(user)["last_purchase"])

    def _when(self, instant):
        # As the admin's lists show a date and time; its "-" when there is none.
        return display_for_value(instant, self.get_empty_value_display())

    @admin.display(description="all purchases")
    def all_purchases(self, user):
        count = lifetime_totals(user)["purchase_count"]
        if not count:
            return "No purchases yet."
        url = reverse("admin:purchases_purchase_changelist") + f"?customer={user.pk}"
        return format_html(
            '<a href="{}" class="all-purchases">See all {} purchase{} of this customer</a>',
            url,
            f"{count:,}",
            "" if count == 1 else "s",
        )
