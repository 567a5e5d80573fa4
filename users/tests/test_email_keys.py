"""Emails are one account whatever their case or Unicode form, on both databases, by one rule.

The rule (`users.models.email_key`): NFKC, then Unicode case folding. It decides
uniqueness (a unique column of the key, so the database holds it under races) and
sign-in (`POST /auth/token`, the admin), whichever door writes the email.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from conftest import PASSWORD
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


def test_the_migration_stops_and_names_the_accounts_when_existing_emails_collide():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("users.migrations.0002_email_keys")
    User.objects.create(email="ssmith@example.com", email_key="placeholder-1")
    User.objects.create(email="\u017f\u017fmith@example.com", email_key="placeholder-2")

    with pytest.raises(RuntimeError, match=r"ssmith@example.com.*\(id \d+\).*Merge them"):
        migration.fill_keys(apps, None)


def test_the_migration_fills_the_keys_of_existing_rows():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("users.migrations.0002_email_keys")
    user = User.objects.create(email="Old@Example.com", email_key="placeholder")

    migration.fill_keys(apps, None)

    user.refresh_from_db()
    assert user.email_key == "old@example.com"
