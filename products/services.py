"""Writes to the catalogue through the API: the one place products are created, changed, removed.

The bulk path is `products.backfill.run_backfill`.
"""

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from rest_framework.exceptions import ValidationError

from products.models import Product
from shop.exceptions import Conflict

DUPLICATE_SKU = "A product with that SKU already exists."


def _save(product):
    # The serializer checked the sku; the unique index settles a race between two writers.
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        if Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists():
            raise ValidationError({"sku": [DUPLICATE_SKU]}) from None
        raise
    return product


def create_product(**fields):
    return _save(Product(**fields))


def update_product(product, **fields):
    for name, value in fields.items():
        setattr(product, name, value)
    return _save(product)


def delete_product(product):
    """Deletes a product, unless purchases point to it (they are financial records): 409."""
    try:
        with transaction.atomic():
            product.delete()
    except (ProtectedError, RestrictedError):
        raise Conflict(
            f"Product {product.pk} ({product.sku}) has purchases and cannot be deleted."
        ) from None
