"""`Idempotency-Key` on `POST /purchases` and `POST /users`: a retry replays, never doubles."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from products.models import Product
from purchases.models import Purchase
from shop.idempotency import expire_keys
from shop.models import IdempotencyKey
from shop.tests import previous_release
from shop.tests.integrity_helpers import call_concurrently, waiting_on_a_lock
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


class TestKeysThePreviousReleaseWrote:
    """While a release rolls, the previous release writes keys in its own form (an answer
    as JSON, an unkeyed fingerprint); a retry of one that reaches this code replays it."""

    def old_key(self, customer, product, key="rolling-1", answer=None):
        body = {"user_id": customer.pk, "product_id": product.pk, "quantity": 1}
        answer = answer if answer is not None else {"id": 991, "quantity": 1, "note": "café"}
        previous_release.insert_idempotency_key(
            scope=f"user:{customer.pk}",
            key=key,
            fingerprint=previous_release.unkeyed_fingerprint("POST", "/purchases", body),
            answer=answer,
        )
        return answer

    def test_a_retry_of_one_replays_its_answer_and_creates_nothing(
        self, customer_client, customer, product
    ):
        answer = self.old_key(customer, product)

        retry = buy(customer_client, customer, product, "rolling-1", path="/purchases/")

        assert retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert retry["Content-Type"] == "application/json"
        assert retry.json() == answer
        assert Purchase.objects.count() == 0

    def test_another_request_with_its_key_is_422(self, customer_client, customer, product):
        self.old_key(customer, product)

        response = buy(customer_client, customer, product, "rolling-1", quantity=2)

        assert response.status_code == 422
        assert Purchase.objects.count() == 0

    def test_sealing_stores_its_answer_as_bytes_and_erases_its_unkeyed_fingerprint(
        self, customer_client, customer, product
    ):
        self.old_key(customer, product)
        ours = buy(customer_client, customer, product, "ours-1")
        before = IdempotencyKey.objects.get(key="ours-1")

        out = StringIO()
        call_command("seal_idempotency_keys", "--batch-size", "1", stdout=out)

        sealed = IdempotencyKey.objects.get(key="rolling-1")
        assert json.loads(bytes(sealed.body)) == {"id": 991, "quantity": 1, "note": "café"}
        assert (sealed.content_type, sealed.fingerprint) == ("application/json", "")
        assert "Sealed 1 " in out.getvalue()
        mine = IdempotencyKey.objects.get(key="ours-1")
        assert (bytes(mine.body), mine.fingerprint) == (bytes(before.body), before.fingerprint)
        assert buy(customer_client, customer, product, "rolling-1").status_code == 422
        assert buy(customer_client, customer, product, "ours-1").content == ours.content
        assert Purchase.objects.count() == 1

    def test_sealing_again_changes_nothing(self, customer, product):
        self.old_key(customer, product)
        call_command("seal_idempotency_keys", stdout=StringIO())
        out = StringIO()

        call_command("seal_idempotency_keys", stdout=out)

        assert "Sealed 0 " in out.getvalue()

    def test_the_previous_release_takes_a_retry_of_a_key_this_code_wrote_for_another_request(
        self, customer_client, customer, product
    ):
        # What docs/operations.md says: that release, comparing unkeyed fingerprints, takes
        # a retry of this key for another request (422), and creates nothing.
        buy(customer_client, customer, product, "ours-2")
        body = {"user_id": customer.pk, "product_id": product.pk, "quantity": 1}

        fingerprint, status, answer = previous_release.read_idempotency_key("ours-2")

        assert fingerprint != previous_release.unkeyed_fingerprint("POST", "/purchases", body)
        assert (status, answer) == (201, None)


@pytest.mark.django_db(transaction=True)
def test_a_purchase_with_a_key_waits_for_its_customer_as_long_as_one_without(
    postgres_only, make_user, monkeypatch
):
    """The key's wait is bounded (`WAIT`); the write it guards is not: a customer's row held
    longer than `WAIT` by another transaction is waited for, not answered 409."""
    import threading
    import time

    from rest_framework.test import APIClient

    from conftest import client_for
    from shop import idempotency

    monkeypatch.setattr(idempotency, "WAIT", "50ms")
    customer = make_user()
    product = Product.objects.create(sku="IDEM-3", name="Waited", price="4.00")
    token = client_for(customer)._credentials["HTTP_AUTHORIZATION"]
    answers = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        try:
            answers.append(buy(client, customer, product, "patient-key").status_code)
        finally:
            connection.close()

    with transaction.atomic():
        User.objects.select_for_update().get(pk=customer.pk)  # as a deletion under way does
        buyer = threading.Thread(target=post)
        buyer.start()
        assert waiting_on_a_lock()
        time.sleep(0.2)  # well past WAIT: the purchase is still waiting, not refused
    buyer.join(timeout=30)

    assert answers == [201]
    assert Purchase.objects.filter(user=customer).count() == 1
