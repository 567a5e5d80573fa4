"""Writes to the catalogue one product at a time: the API's and the admin's door.

The bulk door is `products.backfill`. Both keep the same rules (`products.prices`).
"""

from django.db import transaction
from django.db.models import ProtectedError

from audit.recording import changes_between, record, record_many, values_of
from products.models import Product
from shop.errors import Conflict
from shop.locking import hold_off_rebuild
from shop.services import locked, save_unique

DUPLICATE_SKU = "A product with that SKU already exists."
# What the audit trail follows of a product (`audit.recording`): its key and its data.
AUDITED_FIELDS = ("sku", *Product.DATA_FIELDS)


def _save(product, **save_options):
    return save_unique(
        product,
        field="sku",
        message=DUPLICATE_SKU,
        taken=lambda: Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists(),
        **save_options,
    )


def create_product(**fields):
    with transaction.atomic():
        product = _save(Product(**fields))
        record("created", product, changes=changes_between({}, product, AUDITED_FIELDS))
    return product


def update_product(product, **fields):
    """Changes the fields given, on the row as it is now; a product deleted meanwhile
    stays deleted (`Product.DoesNotExist`)."""
    with transaction.atomic():
        current = locked(Product, product.pk)
        before = values_of(current, fields)
        for name, value in fields.items():
            setattr(current, name, value)
        if fields:
            _save(current, update_fields=[*fields, "updated_at"])
            if changes := changes_between(before, current, fields):
                record("updated", current, changes=changes)
    return current


def delete_product(product):
    """Deletes a product, unless purchases point to it (financial records): `Conflict`.

    The row is locked first: a purchase being recorded holds the same lock until it
    commits, so the check for purchases sees it (a 409), or the purchase finds the
    product gone (a 400); the foreign key never breaks at commit. A product deleted
    meanwhile is `Product.DoesNotExist`.
    """
    deleted = delete_products([product])
    if not deleted:
        raise Product.DoesNotExist(f"Product {product.pk} no longer exists.")
    return deleted[0]


def delete_products(products):
    """Deletes several products at once (the admin's "delete selected"), all or none, as
    `delete_product` deletes one; those deleted meanwhile are skipped. Returns the
    products deleted. Their rows are locked in one statement, in id order, after the
    rebuild's gate (`shop.locking`)."""
    with transaction.atomic():
        hold_off_rebuild()  # their sales totals go with them
        rows = Product.objects.select_for_update().filter(pk__in=[p.pk for p in products])
        current = list(rows.order_by("pk"))
        try:
            Product.objects.filter(pk__in=[p.pk for p in current]).delete()
        except ProtectedError as refusal:
            in_use = {purchase.product_id for purchase in refusal.protected_objects}
            product = next(p for p in current if p.pk in in_use)
            raise Conflict(
                f"Product {product.pk} ({product.sku}) has purchases and cannot be deleted."
            ) from None
        record_many("deleted", current, snapshot=True)
    return current
