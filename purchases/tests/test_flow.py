"""The old service's interview flow, end to end over HTTP.

Backfill the catalogue, create users, record purchases across users and products,
read a customer's purchases, then both analytics.
"""

from decimal import Decimal

import pytest

from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(staff_client):
    """The catalogue: over the backfill endpoint once it exists, else straight into the ORM."""
    response = staff_client.get("/products/data/backfill")
    if response.status_code == 200 and Product.objects.count() >= 3:
        return list(Product.objects.order_by("id")[:3])
    return [
        Product.objects.create(sku=sku, name=name, price=Decimal(price))
        for sku, name, price in (
            ("FL-001", "Flour 1kg", "1.20"),
            ("CO-002", "Coffee beans", "8.50"),
            ("TE-003", "Tea box", "4.10"),
        )
    ]


def test_interview_flow(staff_client, anon_client, catalogue):
    # Users sign up over POST /users (anonymous, as the old clients did).
    users = []
    for n, (first, last) in enumerate((("Ada", "Lovelace"), ("Alan", "Turing"), ("Kat", "J"))):
        response = anon_client.post(
            "/users",
            {"first_name": first, "last_name": last, "email": f"u{n}@example.com", "gender": "x"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        users.append(response.json()["id"])
    ada, alan, kat = users
    flour, coffee, tea = catalogue

    # Purchases across several users and products (staff records them; any user_id).
    orders = [
        (ada, flour, 3),
        (ada, coffee, 1),
        (alan, coffee, 4),
        (alan, tea, 1),
        (kat, flour, 10),
        (kat, tea, 2),
    ]
    for user_id, product, quantity in orders:
        response = staff_client.post(
            "/purchases",
            {"user_id": user_id, "product_id": product.pk, "quantity": quantity},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert Decimal(response.json()["total"]) == product.price * quantity

    # A customer's purchases, newest first, products embedded.
    response = staff_client.get(f"/purchases/user/{alan}")
    assert response.status_code == 200
    assert [(p["product"]["sku"], p["quantity"]) for p in response.json()] == [
        (tea.sku, 1),
        (coffee.sku, 4),
    ]

    # Both analytics, against totals computed here.
    spent = {}
    units = {}
    for user_id, product, quantity in orders:
        spent[user_id] = spent.get(user_id, 0) + product.price * quantity
        units[product.pk] = units.get(product.pk, 0) + quantity
    best = min(spent, key=lambda pk: (-spent[pk], pk))
    popular = min(units, key=lambda pk: (-units[pk], pk))

    response = staff_client.get("/purchases/analytic/most_valuable_customer")
    assert response.status_code == 200
    assert response.json()["id"] == best
    assert Decimal(response.json()["total_spent"]) == spent[best]

    response = staff_client.get("/purchases/analytic/most_popular_product")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["units_sold"]) == (popular, units[popular])
