"""`GET /purchases?format=csv` (or `Accept: text/csv`): every purchase the caller may list.

Staff export every purchase; a customer exports their own, as the JSON list shows them
(`OwnerScopeFilter`). The admin's exports (the list's link, the action) are tested in
test_admin.py.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from purchases import refunds
from purchases.models import Purchase
from shop.tests.test_exports import as_cells, read_csv

pytestmark = pytest.mark.django_db

HEADER = [
    "id",
    "user_id",
    "product_id",
    "quantity",
    "unit_price",
    "total",
    "created_at",
    "customer_email",
    "product_sku",
    "product_name",
    "refunded_quantity",
    "refunded_amount",
    "net_total",
]


def add_purchases(user, product, count, start=None):
    """`count` purchases of `product` by `user`, a minute apart, written in one statement.

    The price and the snapshots are what the service would take; only the volume
    differs from the service's one row at a time.
    """
    start = start or timezone.now() - timedelta(days=1)
    Purchase.objects.bulk_create(
        Purchase(
            user=user,
            product=product,
            quantity=1 + n % 3,
            unit_price=product.price,
            customer_email=user.email,
            product_sku=product.sku,
            product_name=product.name,
            created_at=start + timedelta(minutes=n),
        )
        for n in range(count)
    )


def test_staff_get_every_purchase_in_one_file_newest_first(staff_client, customer, product):
    add_purchases(customer, product, 130)

    response = staff_client.get("/purchases?page_size=10", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="purchases.csv"'
    header, *rows = read_csv(response)
    assert header == HEADER
    assert [int(row[0]) for row in rows] == list(
        Purchase.objects.newest_first().values_list("pk", flat=True)
    )
    assert len(rows) == 130


def test_columns_and_cells_are_the_json_objects(
    staff_client, customer, other_customer, product, buy
):
    buy(customer, product, quantity=3)
    customer.delete()  # a deleted customer's purchase: user_id is empty, as null in JSON
    buy(other_customer, product)
    listed = staff_client.get("/purchases").json()

    header, *rows = read_csv(staff_client.get("/purchases?format=csv"))

    assert header == list(listed[0]) == HEADER
    assert rows == as_cells(listed, header)
    assert rows[0][1] == str(other_customer.pk)
    assert rows[1][1:6] == ["", str(product.pk), "3", "12.50", "37.50"]


def test_a_customer_exports_only_their_own_purchases(
    customer_client, customer, other_customer, product, other_product, buy
):
    mine = [buy(customer, product), buy(customer, other_product)]
    buy(other_customer, product)

    rows = read_csv(customer_client.get("/purchases?format=csv"))

    assert sorted(int(row[0]) for row in rows[1:]) == sorted(p.pk for p in mine)
    assert {row[1] for row in rows[1:]} == {str(customer.pk)}


def test_another_customers_id_finds_nothing_for_a_customer(
    customer_client, other_customer, product, buy
):
    buy(other_customer, product)

    rows = read_csv(customer_client.get(f"/purchases?format=csv&user_id={other_customer.pk}"))
    listed = customer_client.get(f"/purchases?user_id={other_customer.pk}")

    assert rows == [HEADER]
    assert listed.status_code == 200 and listed.json() == []


def test_filters_apply(staff_client, customer, other_customer, product, other_product, buy):
    now = timezone.now()
    old = buy(customer, product, at=now - timedelta(days=10))
    recent = buy(customer, other_product, at=now - timedelta(days=1))
    buy(other_customer, other_product, at=now - timedelta(days=1))
    since = (now - timedelta(days=5)).date().isoformat()

    by_user = read_csv(staff_client.get(f"/purchases?format=csv&user_id={customer.pk}"))
    by_window = read_csv(
        staff_client.get(f"/purchases?format=csv&user_id={customer.pk}&created_after={since}")
    )

    assert [int(row[0]) for row in by_user[1:]] == [recent.pk, old.pk]
    assert [int(row[0]) for row in by_window[1:]] == [recent.pk]


def test_a_formula_in_a_snapshot_is_written_as_text(staff_client, customer, make_product, buy):
    buy(customer, make_product(sku="-SKU", name='=HYPERLINK("x")', price="2.00"), quantity=2)

    header, row = read_csv(staff_client.get("/purchases?format=csv"))

    cells = dict(zip(header, row, strict=True))
    assert (cells["product_sku"], cells["product_name"]) == ("'-SKU", '\'=HYPERLINK("x")')
    assert (cells["unit_price"], cells["total"]) == ("2.00", "4.00")


def test_anonymous_gets_no_purchase_export(anon_client):
    response = anon_client.get("/purchases?format=csv")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("who", ["staff", "customer"])
def test_the_export_takes_the_same_queries_whatever_the_number_of_purchases(
    request, who, customer, product, django_assert_num_queries
):
    client = request.getfixturevalue(f"{who}_client")
    for count in (2, 260):
        Purchase.objects.all().delete()
        add_purchases(customer, product, count)
        # The token and its user, staff's permissions (their own, their role's), then the
        # rows from one cursor.
        with django_assert_num_queries(4 if who == "staff" else 2):
            rows = read_csv(client.get("/purchases?format=csv"))
        assert len(rows) == 1 + count


def test_the_totals_are_exact_for_large_amounts(staff_client, customer, make_product, buy):
    buy(customer, make_product(price="9999999999.99"), quantity=1_000_000)

    header, row = read_csv(staff_client.get("/purchases?format=csv"))

    assert dict(zip(header, row, strict=True))["total"] == str(Decimal("9999999999.99") * 1_000_000)


def test_refunds_show_as_in_the_json_object(staff_client, staff, customer, product, buy):
    refunds.refund_purchase(
        buy(customer, product, quantity=3), by=staff, quantity=1, reason="returned"
    )
    listed = staff_client.get("/purchases").json()

    header, row = read_csv(staff_client.get("/purchases?format=csv"))

    assert [row] == as_cells(listed, header)
    cells = dict(zip(header, row, strict=True))
    assert (cells["refunded_quantity"], cells["refunded_amount"], cells["net_total"]) == (
        "1",
        "12.50",
        "25.00",
    )
