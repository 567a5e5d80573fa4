"""`purchases.money`: what was paid, and what remains net of refunds, the same in Python, in
the ORM and in SQL."""

from decimal import Decimal

import pytest
from django.db import connection

from purchases import money, refunds
from purchases.models import Purchase


def test_paid_is_quantity_times_unit_price_and_cents_are_exact():
    assert money.paid(3, Decimal("0.10")) == Decimal("0.30")
    assert money.paid_cents(3, Decimal("0.10")) == 30
    assert money.cents(Decimal("9999999999.99")) == 999_999_999_999


@pytest.mark.django_db
def test_the_expression_the_sum_and_the_sql_agree_with_python(customer, make_product, buy):
    prices = ["0.10", "0.20", "19.99", "9999999999.99"]
    purchases = [buy(customer, make_product(price=p), quantity=n + 1) for n, p in enumerate(prices)]
    expected = sum(money.paid(p.quantity, p.unit_price) for p in purchases)

    annotated = Purchase.objects.annotate(paid=money.paid_expression()).order_by("pk")
    assert [row.total for row in purchases] == [
        money.paid(row.quantity, row.unit_price) for row in annotated
    ]
    assert Purchase.objects.aggregate(paid=money.PaidSum())["paid"] == expected


@pytest.mark.django_db
def test_net_is_paid_less_refunded_in_python_the_orm_and_sql(staff, customer, make_product, buy):
    prices = ["0.10", "0.20", "19.99", "9999999999.99"]
    purchases = [buy(customer, make_product(price=p), quantity=n + 1) for n, p in enumerate(prices)]
    for purchase, amount in zip(purchases, ["0.10", "0.01", "20.00", "0.99"], strict=True):
        refunds.refund_purchase(purchase, by=staff, amount=Decimal(amount), reason="goodwill")
    rows = list(Purchase.objects.annotate(net=money.net_expression()).order_by("pk"))
    expected = [money.net(p.quantity, p.unit_price, p.refunded_amount) for p in rows]

    assert [row.net for row in rows] == [row.net_total for row in rows] == expected
    assert Purchase.objects.aggregate(net=money.NetSum())["net"] == sum(expected)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Purchase._meta.db_table)
        cursor.execute(f"SELECT {money.net_cents_sum_sql(connection)} FROM {table}")
        (net_cents,) = cursor.fetchone()
    assert int(net_cents) == money.cents(sum(expected))
    assert money.net_cents(3, Decimal("0.10"), Decimal("0.05")) == 25
