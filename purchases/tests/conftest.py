"""Fixtures of the purchases tests: products and purchases made the way the API makes them."""

from decimal import Decimal

import pytest

from products.models import Product
from purchases import services, totals


@pytest.fixture
def make_product(db):
    counter = iter(range(1, 10**6))

    def make(price="10.00", **fields):
        n = next(counter)
        fields.setdefault("sku", f"SKU-{n:04d}")
        fields.setdefault("name", f"Product {n}")
        fields.setdefault("category", "misc")
        return Product.objects.create(price=Decimal(price), **fields)

    return make


@pytest.fixture
def product(make_product):
    return make_product(price="12.50", sku="M-001", name="Mug")


@pytest.fixture
def other_product(make_product):
    return make_product(price="3.99", sku="T-001", name="Tea")


@pytest.fixture
def buy():
    """`buy(user, product, quantity=1, at=None)`: a purchase through the service."""

    def make(user, product, quantity=1, at=None):
        purchase = services.create_purchase(user=user, product=product, quantity=quantity)
        if at is not None:  # dated around the service, as a load of past orders is
            purchase.created_at = at
            purchase.save(update_fields=["created_at"])
            totals.rebuild_days()
            totals.rebuild_months()
        return purchase

    return make
