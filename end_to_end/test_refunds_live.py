"""PostgreSQL only: refunds racing each other over HTTP never refund more than was bought.

A real gunicorn (2 workers, 4 threads each) on the test database takes 20 refunds
of one purchase at once (threads released together from a barrier). Each refund
reads what remains on the purchase's row, locked (`purchases.refunds`), so they
apply one after the other: exactly as many succeed as the purchase allows, the rest
are 400, and the purchase and the sales totals add up to the refunds recorded (the
rebuild's check finds no drift).
"""

import http.client
import json
from collections import Counter
from decimal import Decimal

import pytest

from end_to_end.conftest import token_for
from products.models import Product
from purchases import money, services, totals
from purchases.models import CustomerSales, ProductSales, Refund
from shop.tests.integrity_helpers import call_concurrently

RACERS = 20


@pytest.fixture
def server(server_process):
    return server_process(workers=2, threads=4)


@pytest.fixture
def product():
    return Product.objects.create(sku="M-001", name="Mug", price=Decimal("12.50"))


def post(port, path, token, body):
    """One request on a connection of its own: `(status, parsed body)`."""
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def race(server, purchase, token, body):
    """`RACERS` identical refunds of `purchase` at once: the statuses and the 400s' bodies."""
    path = f"/purchases/{purchase.pk}/refunds"
    answers = call_concurrently(lambda n: post(server.port, path, token, body), RACERS)
    return Counter(status for status, _ in answers), [b for s, b in answers if s == 400]


@pytest.mark.django_db(transaction=True)
def test_racing_unit_refunds_return_exactly_the_units_bought(server, staff, customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=5)

    statuses, refused = race(
        server, purchase, token_for(staff), {"quantity": 1, "reason": "returned"}
    )

    assert statuses == {201: 5, 400: RACERS - 5}
    assert all(list(body) == ["quantity"] for body in refused)
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (5, Decimal("62.50"))
    assert Refund.objects.filter(purchase=purchase).count() == 5
    sales = CustomerSales.objects.get(user=customer)
    assert (sales.spent_cents, sales.units, sales.purchase_count) == (0, 0, 1)
    assert ProductSales.objects.get(product=product).units_sold == 0
    assert totals.drift() == []


@pytest.mark.django_db(transaction=True)
def test_racing_money_refunds_never_exceed_what_was_paid(server, staff, customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)  # 25.00

    statuses, refused = race(
        server, purchase, token_for(staff), {"amount": "3.00", "reason": "goodwill"}
    )

    assert statuses == {201: 8, 400: RACERS - 8}
    assert all(list(body) == ["amount"] for body in refused)
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (0, Decimal("24.00"))
    assert CustomerSales.objects.get(user=customer).spent_cents == 100
    assert money.cents(purchase.net_total) == 100
    assert totals.drift() == []
