"""Purchases: who bought what, how many, at which price (a financial record), and the
refunds given on them.

Beside them, the sales totals (`CustomerSales`, `ProductSales`): what each customer
and each product has sold, all time, kept by `purchases.services` in the same
transaction as every purchase write and recomputed by `purchases.totals`.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from purchases import money
from shop.models import ShopModel


class MadeInPeriodQuerySet(models.QuerySet):
    def in_period(self, since=None, until=None):
        """Rows made (`created_at`) in the half-open window [since, until); either end may be
        open."""
        rows = self
        if since is not None:
            rows = rows.filter(created_at__gte=since)
        if until is not None:
            rows = rows.filter(created_at__lt=until)
        return rows


class PurchaseQuerySet(MadeInPeriodQuerySet):
    def newest_first(self):
        """The history order, served by `purchases_user_history_idx` for one customer."""
        return self.order_by("-created_at", "-id")


class SalesQuerySet(models.QuerySet):
    def with_purchases(self):
        """Rows of customers or products with at least one purchase: the ones ranked.

        The condition is the rank indexes' own, so that the planner can use them.
        """
        return self.filter(purchase_count__gt=0)


class Purchase(ShopModel):
    """One line of a customer's purchase history.

    `unit_price` is the product's price when the purchase was made, set by
    `purchases.services` and never by a client; `total` is derived from it.
    The snapshots keep the record readable after the customer is deleted
    (`user` becomes null) or the product is renamed.
    """

    # Both foreign keys are served by the composite indexes below, whose leading column
    # is the key: a separate single-column index would only cost writes.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="purchases",
        db_index=False,
    )
    product = models.ForeignKey(
        "products.Product", on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    quantity = models.IntegerField(default=1, validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, editable=False)
    customer_email = models.EmailField(
        "customer email", editable=False, help_text="The customer's email when they purchased."
    )
    product_sku = models.CharField("product SKU", max_length=64, editable=False)
    product_name = models.CharField(max_length=255, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # What its refunds add up to, kept by `purchases.refunds` in the refund's transaction.
    # The database's default lets the previous release insert purchases while a release rolls.
    refunded_quantity = models.IntegerField(default=0, db_default=0, editable=False)
    refunded_amount = models.DecimalField(
        max_digits=22, decimal_places=2, default=0, db_default=0, editable=False
    )

    objects = PurchaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("refund_purchase", "Can refund purchases"),
            ("view_sales_report", "Can view the sales reports (analytics, sales page)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1),
                name="purchases_quantity_positive",
                violation_error_message="The quantity must be at least 1.",
            ),
        ]
        indexes = [
            # A customer's history, newest first, read straight off the index; the included
            # columns let the whole-history customer ranking run as an index-only scan too.
            models.Index(
                fields=["user", "-created_at", "-id"],
                include=["quantity", "unit_price"],
                name="purchases_user_history_idx",
            ),
            # A product's purchases over a window, read off the index alone: the windowed
            # product ranking sums those of the products that could rank
            # (`purchases.analytics`); the whole-history one reads it in product order.
            models.Index(
                fields=["product", "created_at"],
                include=["quantity", "unit_price"],
                name="purchases_product_window_idx",
            ),
            # Windowed rankings (and the staff list, newest first): a range scan that
            # carries every column the aggregates read.
            models.Index(
                fields=["created_at"],
                include=["user", "product", "quantity", "unit_price"],
                name="purchases_created_window_idx",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.quantity} x {self.product_sku} for {self.customer_email}"

    @property
    def total(self):
        """What the customer paid: never stored, so it cannot disagree with its factors."""
        return money.paid(self.quantity, self.unit_price)

    @property
    def net_total(self):
        """What the customer paid and was not refunded."""
        return money.net(self.quantity, self.unit_price, self.refunded_amount)

    @property
    def units_remaining(self):
        """Units not yet returned: what a refund may still take back."""
        return self.quantity - self.refunded_quantity


class Refund(ShopModel):
    """Money given back on a purchase, with or without units returned (a financial record).

    Written only by `purchases.refunds`, never changed afterwards. Deleting the purchase
    (one recorded by mistake) deletes its refunds. `created_by_email` keeps the record
    readable after the staff member who gave it is deleted.
    """

    class Reason(models.TextChoices):
        RETURNED = "returned"
        DAMAGED = "damaged"
        NOT_RECEIVED = "not_received", "Not received"
        GOODWILL = "goodwill"
        MISTAKE = "mistake"
        OTHER = "other"

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="refunds")
    quantity = models.IntegerField(default=0, help_text="Units returned (0: money only).")
    amount = models.DecimalField(max_digits=22, decimal_places=2, help_text="Money refunded.")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_by_email = models.EmailField(
        "given by", blank=True, editable=False, help_text="The staff member's email at the time."
    )

    objects = MadeInPeriodQuerySet.as_manager()

    class Meta:
        db_table = "purchase_refunds"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="purchase_refunds_quantity_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="purchase_refunds_amount_not_negative"
            ),
        ]
        indexes = [
            # Windowed analytics: the refunds made in a window, with every column they read.
            models.Index(
                fields=["created_at"],
                include=["purchase", "quantity", "amount"],
                name="purchase_refunds_window_idx",
            ),
        ]

    def __str__(self):
        return f"refund #{self.pk} of purchase #{self.purchase_id}: {self.amount}"


class CustomerSales(models.Model):
    """What one customer has bought, all time: the all-time customer ranking reads this.

    Changed only by signed increments applied in the transaction that writes the
    purchase (`purchases.totals.apply_change`), and recomputed from the purchases by
    `rebuild_sales_totals`. Money is in integer cents (`numeric(32, 0)` on PostgreSQL,
    an integer on SQLite, which keeps decimals as floating point) so that sums stay
    exact and ties break as they do over the purchases. Deleting the customer deletes
    the row: their purchases keep no user and leave the ranking. A row that drops to
    no purchase stays, at zero, out of the ranking (`with_purchases()`).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="sales",
    )
    spent_cents = models.DecimalField(max_digits=32, decimal_places=0, default=0)
    units = models.BigIntegerField(default=0)
    purchase_count = models.BigIntegerField(default=0)
    # What the purchases were paid before any refund: no window's spend exceeds it, which
    # bounds who can rank in a window (`purchases.analytics`).
    paid_cents = models.DecimalField(max_digits=32, decimal_places=0, default=0, db_default=0)

    objects = SalesQuerySet.as_manager()

    class Meta:
        verbose_name = "customer sales"
        verbose_name_plural = "customer sales"
        indexes = [
            # The biggest spenders straight off the index: spend descending, ties to the
            # lowest id, rows without purchases left out (they are not ranked).
            models.Index(
                fields=["-spent_cents", "user"],
                condition=models.Q(purchase_count__gt=0),
                name="purchases_customer_rank_idx",
            ),
            # Those whom refunds gave money back to, by what they paid: with the rank index,
            # who paid at least a window's bar, off small indexes (`purchases.analytics`).
            models.Index(
                fields=["paid_cents"],
                condition=models.Q(paid_cents__gt=models.F("spent_cents"), purchase_count__gt=0),
                name="purchases_customer_paid_idx",
            ),
        ]

    def __str__(self):
        return f"sales of customer {self.user_id}"


class ProductSales(models.Model):
    """What one product has sold, all time: the all-time product ranking reads this.

    Kept like `CustomerSales`. Purchases of deleted customers still count here.
    Deleting the product (possible only once it has no purchase) deletes the row.
    """

    product = models.OneToOneField(
        "products.Product",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="sales",
    )
    units_sold = models.BigIntegerField(default=0)
    purchase_count = models.BigIntegerField(default=0)
    revenue_cents = models.DecimalField(max_digits=32, decimal_places=0, default=0)
    # The units purchased before any return: no window's units sold exceed them, which
    # bounds who can rank in a window (`purchases.analytics`).
    units_purchased = models.BigIntegerField(default=0, db_default=0)

    objects = SalesQuerySet.as_manager()

    class Meta:
        verbose_name = "product sales"
        verbose_name_plural = "product sales"
        indexes = [
            # The best sellers straight off the index: units descending, ties to the lowest id.
            models.Index(
                fields=["-units_sold", "product"],
                condition=models.Q(purchase_count__gt=0),
                name="purchases_product_rank_idx",
            ),
            # Those with units returned, by units purchased: as for the customers.
            models.Index(
                fields=["units_purchased"],
                condition=models.Q(
                    units_purchased__gt=models.F("units_sold"), purchase_count__gt=0
                ),
                name="purchases_product_bought_idx",
            ),
        ]

    def __str__(self):
        return f"sales of product {self.product_id}"


class CustomerMonth(models.Model):
    """What one customer paid for the purchases of one month (in the shop's time zone),
    before refunds: in a window within a few months, nobody spends more than the sum of
    their rows for those months, which bounds who can rank in a short window (a month's
    biggest spenders, off `purchases_month_paid_idx`; `purchases.analytics`).

    Kept like `CustomerSales` (`purchases.totals.apply_change`), in integer cents. A row
    that drops to nothing stays, at zero. Deleting the customer deletes their rows.
    """

    pk = models.CompositePrimaryKey("user_id", "month")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="months", db_index=False
    )
    month = models.DateField()  # the month's first day
    paid_cents = models.DecimalField(max_digits=32, decimal_places=0, default=0)

    class Meta:
        verbose_name = "customer's month"
        verbose_name_plural = "customers' months"
        indexes = [
            # A month's biggest spenders, and who paid at least a bar in it, off the index.
            models.Index(fields=["month", "-paid_cents"], name="purchases_month_paid_idx"),
        ]

    def __str__(self):
        return f"purchases of customer {self.user_id} in {self.month:%Y-%m}"


class DailyRevenue(models.Model):
    """What the purchases of one day (in the shop's time zone) were paid, less what the
    refunds given that day gave back, and how many purchases were made that day: the
    revenue chart reads these rows, a handful per day, instead of the day's purchases.

    Kept like `CustomerSales` (`purchases.totals.apply_change`), in integer cents. A day's
    figures are spread over a few rows (`slot`, picked by each write) so that concurrent
    writers seldom wait on one row: they are summed when read.
    """

    day = models.DateField()
    slot = models.SmallIntegerField()
    revenue_cents = models.DecimalField(max_digits=32, decimal_places=0, default=0)
    purchase_count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "daily revenue"
        verbose_name_plural = "daily revenue"
        constraints = [
            # The upsert's conflict target; its index also serves a range of days.
            models.UniqueConstraint(fields=["day", "slot"], name="purchases_daily_revenue_day_slot")
        ]

    def __str__(self):
        return f"revenue of {self.day} (slot {self.slot})"
