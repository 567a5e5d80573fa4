"""The purchases API: bodies, validation, pricing, paths."""

from decimal import Decimal

import pytest

from purchases import refunds
from purchases.models import Purchase

pytestmark = pytest.mark.django_db


def post(client, **body):
    return client.post("/purchases", body, format="json")


def test_customer_buys_for_themself_at_the_current_price(customer_client, customer, product):
    response = post(customer_client, user_id=customer.pk, product_id=product.pk, quantity=3)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {
        "id": body["id"],
        "user_id": customer.pk,
        "product_id": product.pk,
        "quantity": 3,
        "unit_price": "12.50",
        "total": "37.50",
        "created_at": body["created_at"],
        "customer_email": "alice@example.com",
        "product_sku": "M-001",
        "product_name": "Mug",
        "refunded_quantity": 0,
        "refunded_amount": "0.00",
        "net_total": "37.50",
    }
    purchase = Purchase.objects.get()
    assert purchase.unit_price == Decimal("12.50")
    assert purchase.total == Decimal("37.50")


def test_quantity_defaults_to_one(customer_client, customer, product):
    response = post(customer_client, user_id=customer.pk, product_id=product.pk)
    assert response.status_code == 201
    assert response.json()["quantity"] == 1
    assert response.json()["total"] == "12.50"


def test_the_client_cannot_set_the_price(staff_client, customer, product):
    response = post(
        staff_client, user_id=customer.pk, product_id=product.pk, unit_price="0.01", total="0"
    )
    assert response.status_code == 201
    assert response.json()["unit_price"] == "12.50"


@pytest.mark.parametrize(
    "field, value",
    [
        ("user_id", 999_999),
        ("product_id", 999_999),
        ("user_id", 10**30),
        ("product_id", -1),
    ],
)
def test_unknown_user_or_product_is_400_naming_the_field(
    staff_client, customer, product, field, value
):
    body = {"user_id": customer.pk, "product_id": product.pk, field: value}
    response = staff_client.post("/purchases", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Purchase.objects.exists()


def test_both_unknown_are_both_named(staff_client):
    response = post(staff_client, user_id=999_998, product_id=999_999)
    assert response.status_code == 400
    assert set(response.json()) == {"user_id", "product_id"}


@pytest.mark.parametrize("field", ["user_id", "product_id"])
@pytest.mark.parametrize("value", ["1", "abc", None, 1.0, 1.5, True, [1], {"id": 1}, ""])
def test_ids_must_be_json_integers(staff_client, customer, product, field, value):
    body = {"user_id": customer.pk, "product_id": product.pk, field: value}
    response = staff_client.post("/purchases", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("field", ["user_id", "product_id"])
def test_ids_are_required(staff_client, customer, product, field):
    body = {"user_id": customer.pk, "product_id": product.pk}
    del body[field]
    response = staff_client.post("/purchases", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("quantity", [0, -1, -(10**9), 1.5, "2", "two", None, 10**6 + 1, 10**40])
def test_invalid_quantities_are_400(customer_client, customer, product, quantity):
    response = post(customer_client, user_id=customer.pk, product_id=product.pk, quantity=quantity)
    assert response.status_code == 400
    assert "quantity" in response.json()
    assert not Purchase.objects.exists()


def test_a_quantity_above_the_ceiling_is_400_with_the_fields_message(
    customer_client, customer, product
):
    response = post(customer_client, user_id=customer.pk, product_id=product.pk, quantity=2 * 10**6)
    assert response.status_code == 400
    assert response.json() == {"quantity": ["Ensure this value is less than or equal to 1000000."]}


def test_patch_quantity_above_the_ceiling_is_400(staff_client, customer, product, buy):
    purchase = buy(customer, product)
    body = {"quantity": 2 * 10**6}
    response = staff_client.patch(f"/purchases/{purchase.pk}", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"quantity": ["Ensure this value is less than or equal to 1000000."]}
    purchase.refresh_from_db()
    assert purchase.quantity == 1


def test_largest_quantity_is_accepted(customer_client, customer, product):
    response = post(customer_client, user_id=customer.pk, product_id=product.pk, quantity=10**6)
    assert response.status_code == 201
    assert response.json()["total"] == "12500000.00"


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("null", "application/json"),
    ],
)
def test_malformed_bodies_are_400(staff_client, body, content_type):
    response = staff_client.post("/purchases", body, content_type=content_type)
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_form_encoded_digits_are_accepted(staff_client, customer, product):
    # The browsable API posts forms, whose values are strings.
    response = staff_client.post(
        "/purchases", {"user_id": str(customer.pk), "product_id": str(product.pk)}
    )
    assert response.status_code == 201


def test_retrieve(customer_client, customer, product, buy):
    purchase = buy(customer, product, 2)
    response = customer_client.get(f"/purchases/{purchase.pk}")
    assert response.status_code == 200
    assert response.json()["total"] == "25.00"


@pytest.mark.parametrize("pk", ["abc", "1.5", "0", "-1", "99999999999999999999999", "%20"])
def test_non_integer_or_unknown_id_is_json_404(staff_client, pk):
    for method in ("get", "patch", "delete"):
        response = getattr(staff_client, method)(f"/purchases/{pk}", {}, format="json")
        assert response.status_code == 404, (method, pk)
        assert "detail" in response.json()


def test_patch_quantity_keeps_the_unit_price(staff_client, customer, product, buy):
    purchase = buy(customer, product, 1)
    product.price = Decimal("99.00")
    product.save()

    response = staff_client.patch(f"/purchases/{purchase.pk}", {"quantity": 4}, format="json")

    assert response.status_code == 200
    assert response.json()["unit_price"] == "12.50"
    assert response.json()["total"] == "50.00"


def test_patch_product_reprices_at_its_current_price(
    staff_client, customer, product, other_product, buy
):
    purchase = buy(customer, product, 2)
    response = staff_client.patch(
        f"/purchases/{purchase.pk}", {"product_id": other_product.pk}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["product_id"], body["unit_price"], body["total"]) == (
        other_product.pk,
        "3.99",
        "7.98",
    )
    assert (body["product_sku"], body["product_name"]) == ("T-001", "Tea")


def test_patch_cannot_undo_refunds_given(
    staff_client, staff, customer, product, other_product, buy
):
    purchase = buy(customer, product, 4)  # 50.00
    refunds.refund_purchase(purchase, by=staff, quantity=2, reason="returned")  # 25.00 back
    path = f"/purchases/{purchase.pk}"

    fewer = staff_client.patch(path, {"quantity": 1}, format="json")
    elsewhere = staff_client.patch(path, {"product_id": other_product.pk}, format="json")
    allowed = staff_client.patch(path, {"quantity": 2}, format="json")

    assert fewer.status_code == 400
    assert fewer.json() == {
        "quantity": ["2 units of this purchase have been returned: its quantity cannot be less."]
    }
    assert elsewhere.status_code == 400
    assert list(elsewhere.json()) == ["product_id"]
    assert allowed.status_code == 200
    assert (allowed.json()["net_total"], allowed.json()["refunded_quantity"]) == ("0.00", 2)


def test_patch_same_product_does_not_reprice(staff_client, customer, product, buy):
    purchase = buy(customer, product, 1)
    product.price = Decimal("1.00")
    product.save()
    response = staff_client.patch(
        f"/purchases/{purchase.pk}", {"product_id": product.pk}, format="json"
    )
    assert response.json()["unit_price"] == "12.50"


def test_patch_user_takes_a_new_email_snapshot(
    staff_client, customer, other_customer, product, buy
):
    purchase = buy(customer, product)
    response = staff_client.patch(
        f"/purchases/{purchase.pk}", {"user_id": other_customer.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user_id"] == other_customer.pk
    assert response.json()["customer_email"] == "bob@example.com"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"user_id": 999_999}, "user_id"),
        ({"product_id": 999_999}, "product_id"),
        ({"user_id": None}, "user_id"),
        ({"product_id": "1"}, "product_id"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 2.5}, "quantity"),
    ],
)
def test_patch_invalid_is_400(staff_client, customer, product, buy, body, field):
    purchase = buy(customer, product)
    response = staff_client.patch(f"/purchases/{purchase.pk}", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    purchase.refresh_from_db()
    assert (purchase.user_id, purchase.product_id, purchase.quantity) == (
        customer.pk,
        product.pk,
        1,
    )


def test_delete_answers_200_with_json(staff_client, customer, product, buy):
    purchase = buy(customer, product)
    response = staff_client.delete(f"/purchases/{purchase.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == purchase.pk
    assert not Purchase.objects.exists()


def test_list_filters(staff_client, customer, other_customer, product, other_product, buy):
    from datetime import UTC, datetime

    a = buy(customer, product, at=datetime(2024, 1, 10, tzinfo=UTC))
    b = buy(customer, other_product, at=datetime(2024, 2, 10, tzinfo=UTC))
    c = buy(other_customer, product, at=datetime(2024, 3, 10, tzinfo=UTC))

    def ids(query):
        response = staff_client.get(f"/purchases{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()]

    assert ids("") == [c.pk, b.pk, a.pk]  # newest first
    assert ids(f"?user_id={customer.pk}") == [b.pk, a.pk]
    assert ids(f"?product_id={product.pk}") == [c.pk, a.pk]
    assert ids("?created_after=2024-02-10") == [c.pk, b.pk]
    assert ids("?created_before=2024-02-10T00:00:00Z") == [a.pk]
    assert ids("?created_after=2024-01-01&created_before=2024-03-01") == [b.pk, a.pk]
    assert ids(f"?user_id={customer.pk}&product_id={product.pk}") == [a.pk]
    assert ids("?user_id=999999") == []


def test_a_customers_list_is_their_own_purchases_with_the_filters(
    customer_client, customer, other_customer, product, other_product, buy
):
    from datetime import UTC, datetime

    a = buy(customer, product, at=datetime(2024, 1, 10, tzinfo=UTC))
    b = buy(customer, other_product, at=datetime(2024, 2, 10, tzinfo=UTC))
    buy(other_customer, product, at=datetime(2024, 3, 10, tzinfo=UTC))

    def ids(query):
        response = customer_client.get(f"/purchases{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()]

    assert ids("") == [b.pk, a.pk]
    assert ids(f"?product_id={product.pk}") == [a.pk]
    assert ids("?created_after=2024-02-01") == [b.pk]
    assert ids(f"?user_id={customer.pk}") == [b.pk, a.pk]
    assert ids(f"?user_id={other_customer.pk}") == []  # someone else's: simply nothing
    assert customer_client.get("/purchases")["X-Total-Count"] == "2"


@pytest.mark.parametrize(
    "query, field",
    [
        ("?user_id=abc", "user_id"),
        ("?user_id=1.5", "user_id"),
        ("?user_id=99999999999999999999999", "user_id"),
        ("?product_id=x", "product_id"),
        ("?created_after=yesterday", "created_after"),
        ("?created_before=2024-13-01", "created_before"),
        ("?created_after=9999-12-31T23:59:59-10:00", "created_after"),
        ("?created_after=2021-01-01&created_before=2020-01-01", "created_before"),
        ("?created_after=2021-01-01&created_before=2021-01-01", "created_before"),
    ],
)
def test_list_invalid_filters_are_400(staff_client, query, field):
    response = staff_client.get(f"/purchases{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_list_is_paginated_in_headers(staff_client, customer, product, buy):
    for _ in range(3):
        buy(customer, product)
    response = staff_client.get("/purchases?page_size=2")
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert response["X-Total-Count"] == "3"
    assert 'rel="next"' in response["Link"]


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_path_answers_with_and_without_slash(
    slash, staff_client, customer, product, other_product, buy
):
    purchase = buy(customer, product)
    ok = [
        ("get", "/purchases", None, 200),
        ("post", "/purchases", {"user_id": customer.pk, "product_id": product.pk}, 201),
        ("get", f"/purchases/{purchase.pk}", None, 200),
        ("patch", f"/purchases/{purchase.pk}", {"quantity": 2}, 200),
        ("get", f"/purchases/user/{customer.pk}", None, 200),
        ("get", "/purchases/analytic/most_valuable_customer", None, 200),
        ("get", "/purchases/analytic/most_popular_product", None, 200),
        ("get", "/purchases/analytic/top_customers", None, 200),
        ("get", "/purchases/analytic/top_products", None, 200),
        ("delete", f"/purchases/{purchase.pk}", None, 200),
    ]
    for method, path, body, status in ok:
        response = getattr(staff_client, method)(path + slash, body, format="json")
        assert response.status_code == status, (method, path + slash, response.content)


def test_purchases_of_a_deleted_customer_stay(staff_client, customer, product, buy):
    purchase = buy(customer, product, 2)
    assert staff_client.delete(f"/users/{customer.pk}").status_code == 200

    response = staff_client.get(f"/purchases/{purchase.pk}")
    assert response.status_code == 200
    assert response.json()["user_id"] is None
    assert response.json()["customer_email"] == "alice@example.com"
    assert response.json()["total"] == "25.00"


def test_buying_a_discontinued_product_is_400_naming_the_product(
    customer_client, customer, product
):
    product.active = False
    product.save()

    response = post(customer_client, user_id=customer.pk, product_id=product.pk)

    assert response.status_code == 400
    assert "discontinued" in response.json()["product_id"][0]
    assert not Purchase.objects.exists()
