"""The users API: CRUD at the old service's paths, in both slash forms."""

import pytest

from conftest import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

NEW_USER = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "gender": "female",
}
USER_FIELDS = {"id", "first_name", "last_name", "email", "gender", "date_joined"}


@pytest.mark.parametrize("path", ["/users", "/users/"])
def test_anyone_signs_up_at_either_path_form(anon_client, path):
    response = anon_client.post(path, NEW_USER, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "ada@example.com"
    user = User.objects.get(pk=body["id"])
    assert not user.has_usable_password()
    assert not user.is_staff


def test_sign_up_with_password_can_then_get_a_token(anon_client):
    anon_client.post("/users", {**NEW_USER, "password": "a-long-passphrase-42"}, format="json")

    response = anon_client.post(
        "/auth/token",
        {"email": "ADA@example.com", "password": "a-long-passphrase-42"},
        format="json",
    )

    assert response.status_code == 200
    assert len(response.json()["token"]) == 64


def test_password_is_never_echoed(anon_client):
    response = anon_client.post(
        "/users", {**NEW_USER, "password": "a-long-passphrase-42"}, format="json"
    )

    assert "password" not in response.json()


def test_weak_password_is_rejected_on_the_password_field(anon_client):
    response = anon_client.post("/users", {**NEW_USER, "password": "123"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.exists()


def test_staff_flags_in_the_body_are_ignored(anon_client):
    response = anon_client.post(
        "/users", {**NEW_USER, "is_staff": True, "is_superuser": True}, format="json"
    )

    assert response.status_code == 201
    user = User.objects.get(pk=response.json()["id"])
    assert not user.is_staff and not user.is_superuser
    assert "is_staff" not in response.json()


@pytest.mark.parametrize("missing", ["first_name", "last_name", "email", "gender"])
def test_each_field_is_required(anon_client, missing):
    body = {k: v for k, v in NEW_USER.items() if k != missing}

    response = anon_client.post("/users", body, format="json")

    assert response.status_code == 400
    assert missing in response.json()


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.com", "ada@", ""])
def test_invalid_email_is_rejected(anon_client, email):
    response = anon_client.post("/users", {**NEW_USER, "email": email}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()


def test_email_differing_only_in_case_is_a_duplicate(anon_client, customer):
    response = anon_client.post("/users", {**NEW_USER, "email": "ALICE@Example.COM"}, format="json")

    assert response.status_code == 400
    assert response.json()["email"] == ["A user with that email address already exists."]
    assert User.objects.count() == 1


def test_database_refuses_case_variant_emails(customer):
    from django.db import IntegrityError, transaction

    from users.models import email_key

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(
            email="Alice@EXAMPLE.com", email_key=email_key("Alice@EXAMPLE.com"), first_name="x"
        )


def test_database_refuses_a_user_whose_key_is_empty(db):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="keyless@example.com", email_key="", first_name="x")


def test_gender_longer_than_64_characters_is_rejected(anon_client):
    response = anon_client.post("/users", {**NEW_USER, "gender": "x" * 65}, format="json")

    assert response.status_code == 400
    assert "gender" in response.json()


def test_gender_is_free_text(anon_client):
    response = anon_client.post("/users", {**NEW_USER, "gender": "non-binary"}, format="json")

    assert response.status_code == 201
    assert response.json()["gender"] == "non-binary"


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"email": }', b"[1, 2", b"\xff\xfe", b"NaN", b'{"first_name": NaN}'],
)
def test_malformed_json_is_a_400(anon_client, body):
    response = anon_client.post("/users", body, content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("body", [[], [NEW_USER], "a string", 42, None])
def test_json_that_is_not_an_object_is_a_400(anon_client, body):
    response = anon_client.post("/users", body, format="json")

    assert response.status_code == 400


@pytest.mark.parametrize("value", [None, 12, ["a"], {"a": 1}, True])
def test_non_string_field_values_are_400_not_500(anon_client, value):
    response = anon_client.post("/users", {**NEW_USER, "first_name": value}, format="json")

    assert response.status_code in (400, 201)
    if response.status_code == 201:  # DRF's CharField accepts numbers as strings
        assert response.json()["first_name"] == str(value)


@pytest.mark.parametrize("suffix", ["", "/"])
def test_get_user(staff_client, customer, suffix):
    response = staff_client.get(f"/users/{customer.pk}{suffix}")

    assert response.status_code == 200
    assert response.json() == {
        "id": customer.pk,
        "first_name": "Alice",
        "last_name": "Liddell",
        "email": "alice@example.com",
        "gender": customer.gender,
        "date_joined": response.json()["date_joined"],
    }


@pytest.mark.parametrize("suffix", ["", "/"])
def test_patch_updates_a_subset_of_fields(staff_client, customer, suffix):
    response = staff_client.patch(
        f"/users/{customer.pk}{suffix}", {"last_name": "Hargreaves"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["last_name"] == "Hargreaves"
    assert response.json()["first_name"] == "Alice"
    customer.refresh_from_db()
    assert customer.last_name == "Hargreaves"


def test_patch_password_lets_the_user_sign_in_with_it(customer_client, anon_client, customer):
    response = customer_client.patch(
        f"/users/{customer.pk}",
        {"password": "a-brand-new-passphrase", "current_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200

    token = anon_client.post(
        "/auth/token",
        {"email": customer.email, "password": "a-brand-new-passphrase"},
        format="json",
    )
    assert token.status_code == 200


def test_patch_to_another_users_email_in_other_case_is_rejected(
    staff_client, customer, other_customer
):
    response = staff_client.patch(
        f"/users/{customer.pk}", {"email": "BOB@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert "email" in response.json()


def test_patch_keeping_own_email_in_other_case_is_allowed(staff_client, customer):
    response = staff_client.patch(
        f"/users/{customer.pk}", {"email": "Alice@example.com"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["email"] == "Alice@example.com"


@pytest.mark.parametrize("suffix", ["", "/"])
def test_delete_answers_200_with_a_json_body(staff_client, customer, suffix):
    response = staff_client.delete(f"/users/{customer.pk}{suffix}")

    assert response.status_code == 200
    assert response.json() == {"id": customer.pk, "detail": f"User {customer.pk} deleted."}
    assert not User.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("user_id", ["999999", "abc", "1.5", "-1", "0", "99999999999999999999999"])
def test_unknown_or_non_integer_id_is_a_json_404(staff_client, method, user_id):
    response = getattr(staff_client, method)(f"/users/{user_id}", {}, format="json")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_put_is_not_offered(staff_client, customer):
    response = staff_client.put(f"/users/{customer.pk}", NEW_USER, format="json")

    assert response.status_code == 405


@pytest.mark.parametrize("path", ["/users", "/users/"])
def test_list_is_an_array_in_id_order(staff_client, staff, customer, other_customer, path):
    response = staff_client.get(path)

    assert response.status_code == 200
    assert [u["id"] for u in response.json()] == sorted([staff.pk, customer.pk, other_customer.pk])
    assert response["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("email=ALICE@example.com", ["alice@example.com"]),
        ("gender=FEMALE", ["alice@example.com"]),
        ("search=build", ["bob@example.com"]),
        ("search=example.com&gender=male", ["bob@example.com"]),
        ("search=nobody", []),
    ],
)
def test_list_filters(staff_client, make_user, query, expected):
    make_user(email="alice@example.com", first_name="Alice", last_name="L", gender="female")
    make_user(email="bob@example.com", first_name="Bob", last_name="Builder", gender="male")

    response = staff_client.get(f"/users?{query}")

    assert response.status_code == 200
    assert [u["email"] for u in response.json()] == expected


def test_list_runs_a_constant_number_of_queries(
    staff_client, make_user, django_assert_max_num_queries
):
    for _ in range(30):
        make_user()

    # token lookup (+ its cleanup), count, page
    with django_assert_max_num_queries(5):
        response = staff_client.get("/users")

    assert len(response.json()) == 31
