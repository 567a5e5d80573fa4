"""`Accept` with quality values: the client's preferred type that a view renders wins."""

import pytest

pytestmark = pytest.mark.django_db

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        ("text/csv;q=1.0, application/json;q=0.1", "text/csv"),
        ("application/json;q=0.1, text/csv", "text/csv"),
        ("text/csv;q=0.1, application/json", "application/json"),
        ("text/csv;q=0.5, application/json;q=0.5", "application/json"),  # a tie: our order
        ("text/csv;q=0, */*", "application/json"),
        ("*/*;q=0.1, text/csv;q=0.2", "text/csv"),
        ("text/*;q=0.9, application/json;q=0.3", "text/html"),  # a tie: the browsable API
        ("text/csv", "text/csv"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("text/csv;q=banana, application/json;q=0.5", "text/csv"),  # malformed: q=1
        (BROWSER, "text/html"),
    ],
)
def test_the_list_answers_the_preferred_type(anon_client, accept, answered):
    response = anon_client.get("/products", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == answered


@pytest.mark.parametrize("accept", ["text/csv;q=0", "text/csv;q=0, application/json;q=0"])
def test_types_refused_with_q_0_leave_nothing_acceptable(anon_client, accept):
    response = anon_client.get("/products", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"


def test_format_csv_still_wins_over_accept(anon_client):
    response = anon_client.get("/products?format=csv", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_where_no_csv_is_offered_the_next_preference_is_answered(anon_client, product_id):
    response = anon_client.get(
        f"/products/{product_id}", HTTP_ACCEPT="text/csv;q=1.0, application/json;q=0.1"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.fixture
def product_id(db):
    from products.models import Product

    return Product.objects.create(sku="NEG-1", name="Negotiated", price="1.00").pk
