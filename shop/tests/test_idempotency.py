"""`Idempotency-Key` on `POST /purchases` and `POST /users`: a retry replays, never doubles."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from products.models import Product
from purchases.models import Purchase
from shop.idempotency import expire_keys
from shop.models import IdempotencyKey
from shop.tests.integrity_helpers import call_concurrently
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(db):
    return Product.objects.create(sku="IDEM-1", name="Idempotent", price="4.00")


def buy(client, customer, product, key, quantity=1, path="/purchases"):
    body = {"user_id": customer.pk, "product_id": product.pk, "quantity": quantity}
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


class TestPurchases:
    def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(
        self, customer_client, customer, product
    ):
        first = buy(customer_client, customer, product, "order-42")
        retry = buy(customer_client, customer, product, "order-42", path="/purchases/")

        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.json() == first.json()
        assert retry["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert Purchase.objects.count() == 1

    def test_the_same_key_with_another_body_is_422_and_creates_nothing(
        self, customer_client, customer, product
    ):
        buy(customer_client, customer, product, "order-42")

        response = buy(customer_client, customer, product, "order-42", quantity=2)

        assert response.status_code == 422
        assert "different request" in response.json()["detail"]
        assert Purchase.objects.count() == 1

    def test_keys_are_each_users_own(
        self, customer_client, other_client, customer, other_customer, product
    ):
        buy(customer_client, customer, product, "same-key")

        response = buy(other_client, other_customer, product, "same-key")

        assert response.status_code == 201
        assert Purchase.objects.count() == 2

    def test_without_a_key_every_post_creates(self, customer_client, customer, product):
        body = {"user_id": customer.pk, "product_id": product.pk}
        customer_client.post("/purchases", body, format="json")
        customer_client.post("/purchases", body, format="json")

        assert Purchase.objects.count() == 2

    def test_a_refused_request_is_not_remembered(self, staff_client, customer, product):
        refused = staff_client.post(
            "/purchases",
            {"user_id": customer.pk, "product_id": 999_999},
            format="json",
            HTTP_IDEMPOTENCY_KEY="fix-and-retry",
        )

        retried = buy(staff_client, customer, product, "fix-and-retry")

        assert (refused.status_code, retried.status_code) == (400, 201)
        assert Purchase.objects.count() == 1

    @pytest.mark.parametrize("key", ["", "has space", "é", "k" * 256])
    def test_a_key_that_is_not_1_to_255_printable_ascii_is_400(
        self, customer_client, customer, product, key
    ):
        response = buy(customer_client, customer, product, key)

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()
        assert not Purchase.objects.exists()

    def test_a_key_older_than_24_hours_is_forgotten(self, customer_client, customer, product):
        buy(customer_client, customer, product, "yesterday")
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

        response = buy(customer_client, customer, product, "yesterday")

        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert Purchase.objects.count() == 2

    def test_the_periodic_task_deletes_expired_keys_only(self, customer_client, customer, product):
        buy(customer_client, customer, product, "old")
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
        buy(customer_client, customer, product, "new")

        assert expire_keys() == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_an_anonymous_sign_up_retried_with_its_key_makes_one_account(anon_client):
    body = {"first_name": "Ida", "last_name": "Key", "email": "ida@example.com", "gender": "f"}

    first = anon_client.post("/users", body, format="json", HTTP_IDEMPOTENCY_KEY="signup-1")
    retry = anon_client.post("/users", body, format="json", HTTP_IDEMPOTENCY_KEY="signup-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert User.objects.filter(email="ida@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_key_at_once_from_many_threads_makes_one_purchase(postgres_only, make_user):
    from rest_framework.test import APIClient

    from conftest import client_for

    customer = make_user()
    product = Product.objects.create(sku="IDEM-2", name="Raced", price="4.00")
    token = client_for(customer)._credentials["HTTP_AUTHORIZATION"]

    def post(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        try:
            response = buy(client, customer, product, "raced-key")
            return response.status_code, response.json()
        finally:
            connection.close()

    answers = call_concurrently(post, 6)

    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
    assert Purchase.objects.count() == 1


SIGN_UP = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "gender": "female",
    "password": "analytical-engine-1843",
}


def test_a_stored_record_does_not_let_anyone_test_a_password_offline(anon_client):
    import hashlib
    import json

    anon_client.post("/users", SIGN_UP, format="json", HTTP_IDEMPOTENCY_KEY="ada-1")
    record = IdempotencyKey.objects.get(key="ada-1")
    # An attacker with the row and a guess at the password hashes the request as the
    # code did: it must not match (the fingerprint is keyed with the server's secret).
    guess = json.dumps(["POST", "/users", SIGN_UP], sort_keys=True, default=str)

    assert record.fingerprint != hashlib.sha256(guess.encode()).hexdigest()
    row_text = json.dumps([record.fingerprint, record.body.hex() if record.body else None])
    assert SIGN_UP["password"] not in row_text
    assert SIGN_UP["password"].encode().hex() not in row_text


def test_after_the_secret_rotates_a_retry_still_replays_while_the_old_one_is_a_fallback(
    anon_client, settings
):
    first = anon_client.post("/users", SIGN_UP, format="json", HTTP_IDEMPOTENCY_KEY="rot-1")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    retry = anon_client.post("/users", SIGN_UP, format="json", HTTP_IDEMPOTENCY_KEY="rot-1")

    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.content == first.content


def test_after_the_secret_rotates_without_a_fallback_a_retry_creates_nothing(anon_client, settings):
    anon_client.post("/users", SIGN_UP, format="json", HTTP_IDEMPOTENCY_KEY="rot-2")
    settings.SECRET_KEY = "a-new-secret-key-" + "y" * 40

    retry = anon_client.post("/users", SIGN_UP, format="json", HTTP_IDEMPOTENCY_KEY="rot-2")

    assert retry.status_code == 422
    assert User.objects.filter(email="ada@example.com").count() == 1


def test_a_replay_is_the_first_answer_byte_for_byte(customer_client, customer, product):
    first = buy(customer_client, customer, product, "bytes-1")
    retry = buy(customer_client, customer, product, "bytes-1")

    assert retry.content == first.content
    assert retry["Content-Type"] == first["Content-Type"]
    # As the serializer writes them (`id` first): JSONB would have reordered them.
    assert first.content.startswith(b'{"id":')
