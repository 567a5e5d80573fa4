"""Every password check is limited per account and per client address, at every door alike.

The doors: `POST /auth/token`, the admin's login, the current password of
`PATCH /users/{id}`, and the admin's "change password" page. They share one pair of
counters (`users.sign_in`): attempts at one door count at the others. Past the limit
nothing is checked, not even a right password, and the refusal says so.
"""

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD, client_for, in_role

pytestmark = pytest.mark.django_db

LIMIT = 3
REFUSED = "Too many sign-in attempts"
NEW_PASSWORD = "a-long-new-passphrase-31"


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.SHOP_TOKEN_RATE = f"{LIMIT}/minute"


def api_token(user, address, password):
    response = Client().post(
        "/auth/token",
        {"email": user.email, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )
    if response.status_code == 429:
        assert int(response["Retry-After"]) > 0
        return "refused", response.json()["detail"]
    # The password was right: a staff account is then asked for its second factor.
    if response.status_code == 401 and "second-factor code is needed" in response.json()["detail"]:
        return "ok", None
    return ("ok" if response.status_code == 200 else "wrong"), None


def admin_login(user, address, password):
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.email, "password": password},
        REMOTE_ADDR=address,
    )
    page = response.content.decode()
    if REFUSED in page:
        return "refused", page
    return ("ok" if "_auth_user_id" in client.session else "wrong"), None


def api_current_password(user, address, password):
    response = client_for(user).patch(
        f"/users/{user.pk}",
        {"password": NEW_PASSWORD, "current_password": password},
        format="json",
        REMOTE_ADDR=address,
    )
    if response.status_code == 429:
        assert int(response["Retry-After"]) > 0
        return "refused", response.json()["detail"]
    return ("ok" if response.status_code == 200 else "wrong"), None


def admin_password_change(user, address, password):
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("admin:password_change"),
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR=address,
    )
    if response.status_code == 302:
        return "ok", None
    page = response.content.decode()
    return ("refused", page) if REFUSED in page else ("wrong", None)


DOORS = [api_token, admin_login, api_current_password, admin_password_change]


@pytest.fixture
def accounts(make_user):
    return [in_role(make_user(is_staff=True), "Owner") for _ in range(LIMIT + 2)]


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.__name__)
def test_an_account_gets_the_limit_of_checks_whatever_the_addresses(door, accounts):
    account = accounts[0]
    outcomes = [door(account, f"198.51.100.{n}", "a guess")[0] for n in range(LIMIT)]

    refused, message = door(account, "198.51.100.200", PASSWORD)  # right, but one too many

    assert outcomes == ["wrong"] * LIMIT
    assert refused == "refused"
    assert REFUSED in message
    account.refresh_from_db()
    assert account.check_password(PASSWORD)


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.__name__)
def test_an_address_gets_the_limit_of_checks_whatever_the_accounts(door, accounts):
    outcomes = [door(account, "203.0.113.7", "a guess")[0] for account in accounts[:LIMIT]]

    refused, _ = door(accounts[LIMIT], "203.0.113.7", PASSWORD)
    elsewhere, _ = door(accounts[LIMIT + 1], "203.0.113.8", PASSWORD)

    assert outcomes == ["wrong"] * LIMIT
    assert refused == "refused"
    assert elsewhere == "ok"


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.__name__)
def test_attempts_at_the_other_doors_count_at_this_one(door, accounts):
    account = accounts[0]
    others = [other for other in DOORS if other is not door]
    for n in range(LIMIT):
        assert others[n % len(others)](account, f"192.0.2.{n}", "a guess")[0] == "wrong"

    assert door(account, "192.0.2.99", PASSWORD)[0] == "refused"


def test_the_admin_login_page_says_why_it_refuses(accounts):
    for n in range(LIMIT):
        admin_login(accounts[0], f"198.51.100.{n}", "a guess")

    _, page = admin_login(accounts[0], "198.51.100.99", PASSWORD)

    assert "Too many sign-in attempts; try again in" in page


def test_an_accounts_email_in_another_case_is_the_same_account(accounts):
    account = accounts[0]
    for n in range(LIMIT):
        api_token(account, f"198.51.100.{n}", "a guess")
    account.email = account.email.upper()

    assert api_token(account, "198.51.100.99", PASSWORD)[0] == "refused"
