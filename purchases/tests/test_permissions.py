"""Who may use every purchases endpoint: anonymous, customer (own / other's), staff.

Decisions tested here: a customer reads only their own purchases and history;
another customer's purchase or history is 404 (existence does not leak), and the
list shows them their own only; creating for another user is 403 with a JSON
detail; PATCH, DELETE and the analytics are staff only (purchases are financial
records).
"""

import pytest

from purchases.models import Purchase

pytestmark = pytest.mark.django_db

ANALYTICS = [
    "/purchases/analytic/most_valuable_customer",
    "/purchases/analytic/most_popular_product",
    "/purchases/analytic/top_customers",
    "/purchases/analytic/top_products",
]


@pytest.fixture
def purchases(customer, other_customer, product, buy):
    return {"own": buy(customer, product), "other": buy(other_customer, product)}


@pytest.fixture
def clients(anon_client, customer_client, staff_client):
    return {"anon": anon_client, "customer": customer_client, "staff": staff_client}


def request(client, method, path, body=None):
    response = getattr(client, method)(path, body, format="json")
    assert response["Content-Type"] == "application/json", (method, path)
    return response


def expect(clients, method, path, body, anon, customer, staff):
    for who, status in (("anon", anon), ("customer", customer), ("staff", staff)):
        response = request(clients[who], method, path, body)
        assert response.status_code == status, (who, method, path, response.json())
        if status >= 400:
            assert "detail" in response.json()


def test_anonymous_gets_401_everywhere(anon_client, purchases, customer, product):
    own = purchases["own"].pk
    for method, path in [
        ("get", "/purchases"),
        ("post", "/purchases"),
        ("get", f"/purchases/{own}"),
        ("patch", f"/purchases/{own}"),
        ("delete", f"/purchases/{own}"),
        ("get", f"/purchases/user/{customer.pk}"),
        *(("get", path) for path in ANALYTICS),
    ]:
        response = request(anon_client, method, path, {})
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Token")


def test_the_list_is_everyones_for_staff_and_a_customers_own_for_them(clients, purchases):
    expect(clients, "get", "/purchases", None, anon=401, customer=200, staff=200)

    listed = {row["id"] for row in request(clients["customer"], "get", "/purchases").json()}
    assert listed == {purchases["own"].pk}
    everyone = {row["id"] for row in request(clients["staff"], "get", "/purchases").json()}
    assert everyone == {purchases["own"].pk, purchases["other"].pk}


def test_retrieve_own_other(clients, purchases):
    expect(clients, "get", f"/purchases/{purchases['own'].pk}", None, 401, 200, 200)
    expect(clients, "get", f"/purchases/{purchases['other'].pk}", None, 401, 404, 200)


def test_patch_is_staff_only(clients, purchases):
    for key in ("own", "other"):
        expect(clients, "patch", f"/purchases/{purchases[key].pk}", {"quantity": 2}, 401, 403, 200)
    assert Purchase.objects.get(pk=purchases["own"].pk).quantity == 2


def test_delete_is_staff_only(clients, purchases):
    for key in ("own", "other"):
        expect(clients, "delete", f"/purchases/{purchases[key].pk}", None, 401, 403, 200)


def test_create_for_oneself_or_anyone(
    customer_client, staff_client, customer, other_customer, product
):
    own = {"user_id": customer.pk, "product_id": product.pk}
    other = {"user_id": other_customer.pk, "product_id": product.pk}
    assert request(customer_client, "post", "/purchases", own).status_code == 201

    response = request(customer_client, "post", "/purchases", other)
    assert response.status_code == 403
    assert response.json() == {"detail": "Customers may only create purchases for themselves."}

    assert request(staff_client, "post", "/purchases", other).status_code == 201
    assert Purchase.objects.filter(user=other_customer).count() == 1


def test_creating_for_an_unknown_user_does_not_reveal_who_exists(customer_client, product):
    # Existing or not, another id is the same 403: a customer cannot probe for users.
    for user_id in (999_999, 10**30):
        response = request(
            customer_client, "post", "/purchases", {"user_id": user_id, "product_id": product.pk}
        )
        assert response.status_code == 403


def test_history_own_other_unknown(clients, purchases, customer, other_customer):
    expect(clients, "get", f"/purchases/user/{customer.pk}", None, 401, 200, 200)
    expect(clients, "get", f"/purchases/user/{other_customer.pk}", None, 401, 404, 200)
    for unknown in ("999999", "abc", "1.5", "99999999999999999999999"):
        expect(clients, "get", f"/purchases/user/{unknown}", None, 401, 404, 404)


def test_analytics_are_staff_only(clients, purchases):
    for path in ANALYTICS:
        expect(clients, "get", path, None, anon=401, customer=403, staff=200)
