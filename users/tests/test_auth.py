"""API tokens: issued for email + password, stored hashed, revocable, throttled."""

import pytest
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def obtain(client, email, password=PASSWORD, path="/auth/token"):
    return client.post(path, {"email": email, "password": password}, format="json")


@pytest.mark.parametrize("path", ["/auth/token", "/auth/token/"])
def test_token_for_email_and_password(anon_client, customer, path):
    response = obtain(anon_client, "alice@example.com", path=path)

    assert response.status_code == 200
    assert set(response.json()) == {"token", "expiry"}


def test_token_authenticates_requests(anon_client, customer):
    token = obtain(anon_client, customer.email).json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.get(f"/users/{customer.pk}").status_code == 200


def test_token_is_stored_only_as_a_digest(anon_client, customer):
    token = obtain(anon_client, customer.email).json()["token"]

    stored = AuthToken.objects.get(user=customer)
    assert token not in stored.digest
    assert len(stored.digest) == 128  # SHA-512, hex
    assert stored.token_key == token[:15]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "password": "wrong"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        {},
        {"email": "not-an-email", "password": PASSWORD},
    ],
)
def test_wrong_or_missing_credentials_are_400(anon_client, customer, body):
    response = anon_client.post("/auth/token", body, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not AuthToken.objects.exists()


def test_user_without_a_password_cannot_get_a_token(anon_client, make_user):
    make_user(email="nopass@example.com", password=None)

    assert obtain(anon_client, "nopass@example.com", password="").status_code == 400


def test_inactive_user_cannot_get_a_token(anon_client, make_user):
    make_user(email="gone@example.com", is_active=False)

    assert obtain(anon_client, "gone@example.com").status_code == 400


@pytest.mark.parametrize("suffix", ["", "/"])
def test_delete_revokes_the_token_in_use(anon_client, customer, suffix):
    token = obtain(anon_client, customer.email).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.delete(f"/auth/token{suffix}")

    assert response.status_code == 200
    assert response.json()["revoked"] == 1
    assert client.get(f"/users/{customer.pk}").status_code == 401


def test_revoking_one_token_keeps_the_others(anon_client, customer):
    first = obtain(anon_client, customer.email).json()["token"]
    second = obtain(anon_client, customer.email).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    client.delete("/auth/token")

    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")

    assert client.get(f"/users/{customer.pk}").status_code == 200


def test_delete_all_tokens_signs_out_everywhere(anon_client, customer):
    tokens = [obtain(anon_client, customer.email).json()["token"] for _ in range(3)]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")

    response = client.delete("/auth/tokens")

    assert response.status_code == 200
    assert response.json()["revoked"] == 3
    for token in tokens:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get(f"/users/{customer.pk}").status_code == 401


def signed_in(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


NEW_PASSWORD = "a-new-and-long-passphrase-42"


def test_a_new_password_signs_out_every_other_token(anon_client, customer):
    in_use, elsewhere = (obtain(anon_client, customer.email).json()["token"] for _ in range(2))

    response = signed_in(in_use).patch(
        f"/users/{customer.pk}",
        {"password": NEW_PASSWORD, "current_password": PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    assert signed_in(in_use).get(f"/users/{customer.pk}").status_code == 200
    assert signed_in(elsewhere).get(f"/users/{customer.pk}").status_code == 401
    assert obtain(anon_client, customer.email, NEW_PASSWORD).status_code == 200


def test_staff_setting_a_password_signs_the_customer_out_everywhere(
    anon_client, customer, staff_client
):
    token = obtain(anon_client, customer.email).json()["token"]

    response = staff_client.patch(
        f"/users/{customer.pk}", {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert signed_in(token).get(f"/users/{customer.pk}").status_code == 401
    assert staff_client.get(f"/users/{customer.pk}").status_code == 200


def test_a_profile_change_without_password_keeps_the_tokens(anon_client, customer):
    tokens = [obtain(anon_client, customer.email).json()["token"] for _ in range(2)]

    signed_in(tokens[0]).patch(f"/users/{customer.pk}", {"first_name": "Al"}, format="json")

    assert all(signed_in(t).get(f"/users/{customer.pk}").status_code == 200 for t in tokens)


def test_revoking_without_a_token_is_401(anon_client):
    assert anon_client.delete("/auth/token").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token a b",
        "Token " + "x" * 64,
        "Token ../../etc/passwd",
        "Token é-not-ascii",
        "Token \udcff",
    ],
)
def test_junk_tokens_are_401_not_500(customer, header):
    client = APIClient()
    try:
        client.credentials(
            HTTP_AUTHORIZATION=header.encode("utf-8", "surrogateescape").decode("latin-1")
        )
    except UnicodeEncodeError:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(f"/users/{customer.pk}")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_other_authorization_schemes_are_ignored_not_crashed(customer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer abc")

    assert client.get(f"/users/{customer.pk}").status_code == 401


def throttled_rates(num_proxies=0, signup="20/hour", token="30/minute"):
    return override_settings(
        SHOP_SIGNUP_RATE=signup,
        SHOP_TOKEN_RATE=token,
        REST_FRAMEWORK={**_rest_framework_settings(), "NUM_PROXIES": num_proxies},
    )


def _rest_framework_settings():
    from django.conf import settings

    return settings.REST_FRAMEWORK


def test_anonymous_sign_up_is_throttled_with_retry_after(anon_client):
    with throttled_rates(signup="2/hour"):
        statuses = [
            anon_client.post(
                "/users",
                {"first_name": "A", "last_name": "B", "email": f"u{i}@example.com", "gender": "x"},
                format="json",
            )
            for i in range(3)
        ]

    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert int(statuses[-1]["Retry-After"]) > 0
    assert "detail" in statuses[-1].json()


def test_staff_creating_customers_is_not_throttled(staff_client):
    with throttled_rates(signup="1/hour"):
        statuses = [
            staff_client.post(
                "/users",
                {"first_name": "A", "last_name": "B", "email": f"u{i}@example.com", "gender": "x"},
                format="json",
            ).status_code
            for i in range(3)
        ]

    assert statuses == [201, 201, 201]


def test_token_requests_are_throttled(anon_client, customer):
    with throttled_rates(token="2/minute"):
        statuses = [obtain(anon_client, customer.email, "wrong").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


def test_a_made_up_forwarded_for_does_not_escape_the_token_rate(anon_client, customer):
    with throttled_rates(token="2/minute"):
        statuses = [
            anon_client.post(
                "/auth/token",
                {"email": customer.email, "password": "wrong"},
                format="json",
                HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
            ).status_code
            for n in range(3)
        ]

    assert statuses == [400, 400, 429]


def test_behind_one_proxy_the_rate_keys_on_the_address_the_proxy_saw(anon_client):
    def attempt(forwarded_for, account):
        # A new account each time: what is measured is the limit per address.
        return anon_client.post(
            "/auth/token",
            {"email": f"{account}@example.com", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=forwarded_for,
        ).status_code

    with throttled_rates(num_proxies=1, token="1/minute"):
        first, other_client = attempt("198.51.100.1", "a"), attempt("198.51.100.2", "b")
        # A client prepending a made-up address is still the address the proxy appended.
        forged = attempt("203.0.113.9, 198.51.100.1", "c")

    assert (first, other_client, forged) == (400, 400, 429)


def test_a_token_in_the_header_does_not_make_password_guesses_free(customer, other_customer):
    signed_in = APIClient()
    signed_in.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=customer)[1]}")
    with throttled_rates(token="2/minute"):
        statuses = [obtain(signed_in, other_customer.email, "guess").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]
