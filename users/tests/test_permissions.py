"""Who may call each users endpoint: anonymous, the customer themself, another customer, staff."""

import pytest

from users.models import User

pytestmark = pytest.mark.django_db

NEW_USER = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "gender": "female",
}


@pytest.fixture
def clients(anon_client, customer_client, other_client, staff_client):
    return {
        "anonymous": anon_client,
        "self": customer_client,
        "other customer": other_client,
        "staff": staff_client,
    }


# (method, path, body) → expected status for each role. "{id}" is the customer Alice.
TABLE = [
    ("get", "/users", None, {"anonymous": 401, "self": 403, "other customer": 403, "staff": 200}),
    (
        "post",
        "/users",
        NEW_USER,
        # Sign-up is for visitors; a signed-in customer creating accounts is refused.
        {"anonymous": 201, "self": 403, "other customer": 403, "staff": 201},
    ),
    (
        "get",
        "/users/{id}",
        None,
        {"anonymous": 401, "self": 200, "other customer": 404, "staff": 200},
    ),
    (
        "patch",
        "/users/{id}",
        {"gender": "other"},
        {"anonymous": 401, "self": 200, "other customer": 404, "staff": 200},
    ),
    (
        "delete",
        "/users/{id}",
        None,
        {"anonymous": 401, "self": 403, "other customer": 403, "staff": 200},
    ),
]


@pytest.mark.parametrize("role", ["anonymous", "self", "other customer", "staff"])
@pytest.mark.parametrize(("method", "path", "body", "expected"), TABLE)
@pytest.mark.parametrize("slash", ["", "/"])
def test_permission_table(clients, customer, role, method, path, body, expected, slash):
    client = clients[role]
    url = path.format(id=customer.pk) + slash

    response = getattr(client, method)(url, body, format="json")

    assert response.status_code == expected[role], response.content
    assert response["Content-Type"].startswith("application/json")


def test_customer_cannot_see_other_customers_through_filters(customer_client, other_customer):
    response = customer_client.get(f"/users?email={other_customer.email}")

    assert response.status_code == 403


def test_other_customers_patch_changes_nothing(other_client, customer):
    other_client.patch(f"/users/{customer.pk}", {"first_name": "Mallory"}, format="json")

    customer.refresh_from_db()
    assert customer.first_name == "Alice"


def test_customer_cannot_make_themself_staff(customer_client, customer):
    response = customer_client.patch(
        f"/users/{customer.pk}", {"is_staff": True, "is_superuser": True}, format="json"
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert not customer.is_staff and not customer.is_superuser


def test_missing_credentials_answer_401_with_the_scheme(anon_client, customer):
    response = anon_client.get(f"/users/{customer.pk}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_inactive_customer_token_is_refused(customer_client, customer):
    User.objects.filter(pk=customer.pk).update(is_active=False)

    response = customer_client.get(f"/users/{customer.pk}")

    assert response.status_code == 401


def test_session_login_works_for_the_browsable_api(client, staff):
    client.force_login(staff)

    response = client.get("/users", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
