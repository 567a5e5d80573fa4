"""Purchases: who bought what, how many, at which price (a financial record)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from shop.models import ShopModel


class PurchaseQuerySet(models.QuerySet):
    def in_period(self, since=None, until=None):
        """Purchases made in the half-open window [since, until); either end may be open."""
        purchases = self
        if since is not None:
            purchases = purchases.filter(created_at__gte=since)
        if until is not None:
            purchases = purchases.filter(created_at__lt=until)
        return purchases

    def newest_first(self):
        """The history order, served by `purchases_user_history_idx` for one customer."""
        return self.order_by("-created_at", "-id")


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

    objects = PurchaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
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
            # Whole-history product ranking: an index-only scan in product order.
            models.Index(
                fields=["product"], include=["quantity"], name="purchases_product_units_idx"
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
        return self.unit_price * self.quantity
