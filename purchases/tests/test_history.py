"""`GET /purchases/user/{id}`: a customer's history, newest first, products embedded."""

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.django_db


def test_history_is_newest_first_with_products(
    customer_client, customer, other_customer, product, other_product, buy
):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    old = buy(customer, product, 1, at=start)
    new = buy(customer, other_product, 2, at=start + timedelta(days=1))
    same_time = buy(customer, product, 3, at=start + timedelta(days=1))
    buy(other_customer, product)

    response = customer_client.get(f"/purchases/user/{customer.pk}")

    assert response.status_code == 200
    body = response.json()
    # Same instant: the later id first, so pages are stable.
    assert [row["id"] for row in body] == [same_time.pk, new.pk, old.pk]
    assert body[1]["product"] == {
        "id": other_product.pk,
        "sku": "T-001",
        "name": "Tea",
        "description": "",
        "category": "misc",
        "price": "3.99",
        "metal_type": "",
        "stone_type": "",
        "customizable": None,
        "active": True,
        "created_at": body[1]["product"]["created_at"],
        "updated_at": body[1]["product"]["updated_at"],
    }
    assert body[1]["total"] == "7.98"
    assert response["X-Total-Count"] == "3"


def test_history_of_a_customer_without_purchases_is_empty(staff_client, customer):
    response = staff_client.get(f"/purchases/user/{customer.pk}")
    assert response.status_code == 200
    assert response.json() == []
    assert response["X-Total-Count"] == "0"


def test_history_is_paginated(staff_client, customer, product, buy):
    for _ in range(5):
        buy(customer, product)
    response = staff_client.get(f"/purchases/user/{customer.pk}?page=2&page_size=2")
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response["X-Total-Count"] == "5"
    assert all(rel in response["Link"] for rel in ('"first"', '"prev"', '"next"', '"last"'))


def test_history_shows_the_price_paid_not_todays(customer_client, customer, product, buy):
    buy(customer, product, 2)
    product.price = "20.00"
    product.save()
    row = customer_client.get(f"/purchases/user/{customer.pk}").json()[0]
    assert (row["unit_price"], row["total"], row["product"]["price"]) == ("12.50", "25.00", "20.00")


@pytest.mark.parametrize("count", [1, 50])
@pytest.mark.parametrize(
    ("reader", "queries"),
    [
        # The token, the count, the page with the products joined: whatever the count.
        ("customer_client", 3),
        # Staff also read their permissions (their own, their role's) and look the user up
        # (404 if unknown).
        ("staff_client", 6),
    ],
)
def test_history_takes_a_constant_number_of_queries(
    count, reader, queries, request, customer, make_product, buy, django_assert_num_queries
):
    client = request.getfixturevalue(reader)
    for n in range(count):
        buy(customer, make_product(price=f"{n + 1}.00"))
    with django_assert_num_queries(queries):
        response = client.get(f"/purchases/user/{customer.pk}")
    assert len(response.json()) == count
