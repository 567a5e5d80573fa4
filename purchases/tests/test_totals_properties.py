"""`purchases.totals`: whatever the sequence of writes, the totals kept are the ones rebuilt.

Hypothesis draws sequences of purchases, corrections (quantity, product, customer),
refunds (units, money, both), deletions of purchases, customers and products, all through
the services; a write the rules refuse is part of the sequence too (it must change
nothing). After each sequence the maintained totals, and each purchase's refunded
figures, equal what `rebuild_sales_totals` computes: `totals.drift()` is empty.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from products import services as product_services
from products.models import Product
from purchases import refunds, services, totals
from purchases.models import Purchase
from shop.errors import Conflict
from users import services as user_services

pytestmark = pytest.mark.django_db

CUSTOMERS, PRODUCTS = 3, 3
PRICES = ("0.00", "0.99", "12.50")

index = st.integers(min_value=0, max_value=7)
quantity = st.integers(min_value=1, max_value=6)
amount = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("80.00"), places=2)

writes = st.one_of(
    st.tuples(st.just("buy"), index, index, quantity),
    st.tuples(st.just("quantity"), index, quantity),
    st.tuples(st.just("product"), index, index),
    st.tuples(st.just("customer"), index, index),
    st.tuples(st.just("refund units"), index, quantity),
    st.tuples(st.just("refund money"), index, amount),
    st.tuples(st.just("refund both"), index, quantity, amount),
    st.tuples(st.just("delete"), index),
    st.tuples(st.just("delete customer"), index),
    st.tuples(st.just("delete product"), index),
)


def pick(rows, n):
    return rows[n % len(rows)] if rows else None


def apply(write, customers, products, staff):
    """Carries out one drawn write; a purchase or customer that is gone is skipped."""
    kind, n, *rest = write
    purchases = list(Purchase.objects.order_by("pk"))
    purchase = pick(purchases, n)
    if kind == "buy":
        customer = pick(customers, n)
        if customer is not None and products:
            services.create_purchase(
                user=customer, product=pick(products, rest[0]), quantity=rest[1]
            )
        return
    if kind == "delete customer":
        customer = pick(customers, n)
        if customer is not None:
            user_services.delete_user(customer, by=staff)
            customers.remove(customer)
        return
    if kind == "delete product":
        product = pick(products, n)
        if product is not None:
            product_services.delete_product(product)  # refused while purchases point to it
            products.remove(product)
        return
    if purchase is None:
        return
    if kind == "quantity":
        services.update_purchase(purchase, quantity=rest[0])
    elif kind == "product":
        services.update_purchase(purchase, product=pick(products, rest[0]))
    elif kind == "customer" and customers:
        services.update_purchase(purchase, user=pick(customers, rest[0]))
    elif kind == "refund units":
        refunds.refund_purchase(purchase, by=staff, quantity=rest[0], reason="returned")
    elif kind == "refund money":
        refunds.refund_purchase(purchase, by=staff, amount=rest[0], reason="goodwill")
    elif kind == "refund both":
        refunds.refund_purchase(
            purchase, by=staff, quantity=rest[0], amount=rest[1], reason="damaged"
        )
    elif kind == "delete":
        services.delete_purchase(purchase)


def refused_changes_nothing(write, customers, products, staff):
    """`apply`, where a write the rules refuse must leave every row as it was."""
    before = list(Purchase.objects.order_by("pk").values())
    try:
        with transaction.atomic():
            apply(write, customers, products, staff)
    except (ValidationError, Conflict):
        assert list(Purchase.objects.order_by("pk").values()) == before


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(writes, min_size=1, max_size=12))
def test_the_totals_kept_equal_the_totals_rebuilt(make_user, staff, sequence):
    with transaction.atomic():
        customers = [make_user() for _ in range(CUSTOMERS)]
        products = [
            Product.objects.create(sku=f"P-{n}", name=f"Product {n}", price=Decimal(price))
            for n, price in enumerate(PRICES[:PRODUCTS])
        ]
        for write in sequence:
            refused_changes_nothing(write, customers, products, staff)

        for purchase in Purchase.objects.all():
            assert 0 <= purchase.refunded_quantity <= purchase.quantity
            assert 0 <= purchase.refunded_amount <= purchase.total
        assert totals.drift() == []
        transaction.set_rollback(True)  # the next example starts from an empty shop
