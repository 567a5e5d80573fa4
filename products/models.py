"""The product catalogue."""

from decimal import Decimal

from django.db import models


class Product(models.Model):
    """A product of the catalogue, keyed by its `sku` (the backfill's key)."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["price"], name="products_price_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=Decimal("0")),
                name="products_price_not_negative",
                violation_error_message="The price cannot be negative.",
            ),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"
