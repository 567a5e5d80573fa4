"""Finding customers: part of a name or email in any case, and an exact email, by index."""

import pytest
from django.db import connection, transaction

from users.models import User

pytestmark = pytest.mark.django_db

FULL_WIDTH_LOVELACE = "".join(chr(ord(letter) + 0xFEE0) for letter in "lovelace@")


@pytest.fixture
def people(make_user, staff):
    return [
        make_user(email="Ada.Lovelace@Example.com", first_name="Ada", last_name="Lovelace"),
        make_user(email="grace@navy.example", first_name="Grace", last_name="Hopper"),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("LOVE", {"Ada.Lovelace@example.com"}),  # part of a last name, another case
        ("gRaC", {"grace@navy.example"}),  # part of a first name
        ("navy.EX", {"grace@navy.example"}),  # part of an email, another case
        (FULL_WIDTH_LOVELACE, {"Ada.Lovelace@example.com"}),  # an email's part, full-width
        ("nobody", set()),
    ],
)
def test_the_search_finds_part_of_a_name_or_email_in_any_case(staff_client, people, text, found):
    response = staff_client.get("/users", {"search": text})

    assert {row["email"] for row in response.json()} == found


@pytest.mark.parametrize("email", ["ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM"])
def test_the_email_filter_finds_the_account_in_any_case(staff_client, people, email):
    response = staff_client.get("/users", {"email": email})

    assert [row["email"] for row in response.json()] == ["Ada.Lovelace@example.com"]


def test_the_email_filter_finds_no_account_by_part_of_an_email(staff_client, people):
    assert staff_client.get("/users", {"email": "ada.lovelace@example"}).json() == []


@pytest.mark.parametrize(
    ("search", "index"),
    [
        ({"first_name__icontains": "ada"}, "users_first_name_trgm_idx"),
        ({"last_name__icontains": "ada"}, "users_last_name_trgm_idx"),
        ({"email_key__contains": "lovelace"}, "users_email_key_trgm_idx"),
        ({"email_key": "ada.lovelace@example.com"}, "users_user_email_key"),
    ],
)
def test_each_search_is_served_by_an_index(postgres_only, people, search, index):
    # On a few rows the planner would rightly read the table: forbid that, to see
    # whether an index can answer the query as the search writes it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # nor walk the primary key
        plan = User.objects.filter(**search).order_by().explain()

    assert index in plan


def test_the_search_queryset_is_what_the_api_uses(people):
    assert {u.email for u in User.objects.search("hopper")} == {"grace@navy.example"}
