"""Writes to the catalogue one product at a time: the API's and the admin's door.

The bulk door is `products.backfill`. Both keep the same rules (`products.prices`).
"""

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError

from products.models import Product
from shop.errors import Conflict
from shop.locking import hold_off_rebuild
from shop.services import locked, save_unique

DUPLICATE_SKU = "A product with that SKU already exists."


def _save(product, **save_options):
    return save_unique(
        product,
        field="sku",
        message=DUPLICATE_SKU,
        taken=lambda: Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists(),
        **save_options,
    )


def create_product(**fields):
    return _save(Product(**fields))


def update_product(product, **fields):
    """Changes the fields given, on the row as it is now; a product deleted meanwhile
    stays deleted (`Product.DoesNotExist`)."""
    with transaction.atomic():
        current = locked(Product, product.pk)
        for name, value in fields.items():
            setattr(current, name, value)
        if fields:
            _save(current, update_fields=[*fields, "updated_at"])
    return current


def delete_product(product):
    """Deletes a product, unless purchases point to it (financial records): `Conflict`.

    The row is locked first: a purchase being recorded holds the same lock until it
    commits, so the check for purchases sees it (a 409), or the purchase finds the
    product gone (a 400); the foreign key never breaks at commit.
    """
    with transaction.atomic():
        hold_off_rebuild()  # its sales totals go with it
        current = locked(Product, product.pk)
        try:
            current.delete()
        except (ProtectedError, RestrictedError):
            raise Conflict(
                f"Product {current.pk} ({current.sku}) has purchases and cannot be deleted."
            ) from None
    return current
