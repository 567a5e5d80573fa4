"""Writes to purchases: the one place that records and corrects them.

The price a customer pays is read here, inside the transaction that writes
the purchase, from the product row locked `FOR UPDATE`: a price change that
commits concurrently lands either wholly before (the new price is paid) or
wholly after (the old one is), never half-way.
"""

from django.db import transaction
from rest_framework.exceptions import ValidationError

from products.models import Product
from purchases.models import Purchase
from users.models import User

UNSET = object()


def _locked_product(product):
    try:
        return (
            Product.objects.select_for_update()
            .only("id", "sku", "name", "price")
            .get(pk=getattr(product, "pk", product))
        )
    except Product.DoesNotExist:
        raise ValidationError({"product_id": ["This product does not exist."]}) from None


def _current_email(user):
    # The lock keeps the customer from being deleted before we commit (which would break
    # the foreign key at commit time) without blocking their other purchases' inserts.
    users = User.objects.select_for_update(no_key=True).filter(pk=getattr(user, "pk", user))
    email = users.values_list("email", flat=True).first()
    if email is None:
        raise ValidationError({"user_id": ["This user does not exist."]})
    return email


def _set_product(purchase, product):
    locked = _locked_product(product)
    purchase.product = locked
    purchase.unit_price = locked.price
    purchase.product_sku = locked.sku
    purchase.product_name = locked.name


def _set_user(purchase, user):
    purchase.customer_email = _current_email(user)
    purchase.user_id = getattr(user, "pk", user)


def create_purchase(*, user, product, quantity=1):
    """Records that `user` bought `quantity` of `product` at the product's current price."""
    with transaction.atomic():
        purchase = Purchase(quantity=quantity)
        _set_user(purchase, user)
        _set_product(purchase, product)
        purchase.save()
        return purchase


def update_purchase(purchase, *, user=UNSET, product=UNSET, quantity=UNSET):
    """Corrects a purchase (staff only).

    Moving it to another product re-prices it at that product's current price;
    giving the product it already has changes nothing. Changing the quantity
    keeps the unit price that was paid. Moving it to another customer takes a
    new email snapshot.
    """
    with transaction.atomic():
        # Lock the row so that two corrections at once apply one after the other.
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        if user is not UNSET and getattr(user, "pk", user) != purchase.user_id:
            _set_user(purchase, user)
        if product is not UNSET and getattr(product, "pk", product) != purchase.product_id:
            _set_product(purchase, product)
        if quantity is not UNSET:
            purchase.quantity = quantity
        purchase.save()
        return purchase


def delete_purchase(purchase):
    """Removes a purchase recorded by mistake (staff only)."""
    purchase.delete()
