"""Emails are one account whatever their case or Unicode form, on both databases, by one rule.

The rule (`users.models.email_key`): NFKC, then Unicode case folding. It decides
uniqueness (a unique column of the key, so the database holds it under races) and
sign-in (`POST /auth/token`, the admin), whichever door writes the email.
"""

import pytest
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from conftest import PASSWORD
from shop.tests import previous_release
from users import services
from users.models import User, email_key

pytestmark = pytest.mark.django_db

# (as first written, another spelling of the same address)
SAME = [
    ("ssmith@example.com", "\u017f\u017fmith@example.com"),  # long s
    ("strasse@example.com", "stra\u00dfe@example.com"),  # sharp s
    ("kkane@example.com", "\u212a\u212aane@example.com"),  # Kelvin sign
    ("iivan@example.com", "\u0130\u0130van@example.com"),  # capital I with a dot
    ("ada@example.com", "\uff21\uff24\uff21@example.com"),  # full-width letters
    ("Ada@example.com", "aDA@EXAMPLE.com"),
]
IDS = ["long-s", "sharp-s", "kelvin", "dotted-I", "full-width", "ascii-case"]
# Those Django's email validator lets through (it refuses `ß` and full-width letters in
# the part before the `@`): what a client can send to the API.
REFUSED_BY_THE_VALIDATOR = ("sharp-s", "full-width")
VALID = [pair for pair, name in zip(SAME, IDS, strict=True) if name not in REFUSED_BY_THE_VALIDATOR]
VALID_IDS = [name for name in IDS if name not in REFUSED_BY_THE_VALIDATOR]


@pytest.mark.parametrize(("first", "second"), SAME, ids=IDS)
def test_two_spellings_of_one_address_have_one_key(first, second):
    assert email_key(first) == email_key(second)


@pytest.mark.parametrize(("first", "second"), VALID, ids=VALID_IDS)
def test_the_api_refuses_a_second_account_for_another_spelling(
    anon_client, staff_client, first, second
):
    body = {"first_name": "A", "last_name": "B", "gender": "x"}
    assert anon_client.post("/users", {**body, "email": first}, format="json").status_code == 201

    response = staff_client.post("/users", {**body, "email": second}, format="json")

    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email address already exists."]}


@pytest.mark.parametrize(("first", "second"), SAME, ids=IDS)
def test_the_database_refuses_it_when_the_check_is_raced(first, second):
    services.create_user(email=first)
    late = User(email=second, email_key=email_key(second))

    with pytest.raises(IntegrityError), transaction.atomic():
        late.save()


@pytest.mark.parametrize(("first", "second"), SAME, ids=IDS)
def test_the_service_refuses_changing_an_email_to_another_spelling(first, second, make_user):
    services.create_user(email=first)
    other = make_user()

    with pytest.raises(ValidationError):
        services.update_user(other, email=second)


@pytest.mark.parametrize(("first", "second"), VALID, ids=VALID_IDS)
def test_signing_in_finds_the_account_by_any_spelling(anon_client, make_user, first, second):
    make_user(email=first)

    response = anon_client.post(
        "/auth/token", {"email": second, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200


def test_the_admin_login_finds_the_account_by_another_spelling(client, make_user):
    make_user(email="ssmith@example.com", is_staff=True)

    client.post("/admin/login/", {"username": "\u017f\u017fmith@example.com", "password": PASSWORD})

    assert "_auth_user_id" in client.session


def test_a_changed_email_changes_the_key(make_user):
    user = make_user(email="old@example.com")

    services.update_user(user, email="New@Example.com")

    user.refresh_from_db()
    assert user.email_key == "new@example.com"


def test_the_key_is_stored_by_the_manager_too():
    user = User.objects.create_user("Mixed@Example.com")

    assert User.objects.get(pk=user.pk).email_key == "mixed@example.com"


def test_the_key_column_is_unique_in_the_database():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, User._meta.db_table)
    assert any(c["unique"] and c["columns"] == ["email_key"] for c in constraints.values())


# --- Accounts the previous release wrote, before fill_email_keys gives them their key ------


def password_hash():
    return make_password(PASSWORD)


@pytest.mark.parametrize("typed", ["old@example.com", "OLD@Example.COM"])
def test_an_account_the_previous_release_created_signs_in_by_its_email(anon_client, typed):
    previous_release.insert_user("Old@Example.com", password=password_hash())

    response = anon_client.post(
        "/auth/token", {"email": typed, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200


@pytest.mark.parametrize(("first", "second"), SAME, ids=IDS)
def test_an_account_without_its_key_still_holds_its_address_in_every_spelling(first, second):
    previous_release.insert_user(first)

    with pytest.raises(ValidationError):
        services.create_user(email=second)
    assert User.objects.count() == 1


@pytest.mark.parametrize(("first", "second"), VALID, ids=VALID_IDS)
def test_the_api_refuses_another_spelling_of_an_account_without_its_key(
    staff_client, first, second
):
    previous_release.insert_user(first)
    body = {"first_name": "A", "last_name": "B", "gender": "x", "email": second}

    response = staff_client.post("/users", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"email": ["A user with that email address already exists."]}


def test_an_email_the_previous_release_changed_signs_in_and_is_held(anon_client, make_user):
    user = make_user(email="before@example.com")
    previous_release.change_email(user.pk, "After@Example.com")  # its key still "before@…"

    response = anon_client.post(
        "/auth/token", {"email": "after@example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    with pytest.raises(ValidationError):
        services.create_user(email="AFTER@example.com")


def test_sign_in_takes_the_keyed_account_when_the_previous_release_wrote_another_spelling(
    make_user,
):
    keyed = make_user(email="ssmith@example.com")
    previous_release.insert_user("\u017f\u017fmith@example.com")  # LOWER() let it through

    assert User.objects.get_by_natural_key("\u017f\u017fmith@example.com") == keyed
