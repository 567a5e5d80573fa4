"""PostgreSQL only: writes racing the deletion of their row or of the row they point to.

Each test fires a handful of requests at once at a real gunicorn (threads release
together from a barrier), over several rounds, and checks what must hold whatever
the interleaving: no 500, a deleted row stays deleted, exactly one DELETE wins,
and every acknowledged write is recorded consistently. Bounded: a few rounds of a
few requests each, every request with a timeout.
"""

import http.client
import json
import threading
from collections import Counter

import pytest

from products.models import Product
from purchases.models import Purchase
from shop.tests.conftest import token_for
from users.models import User

ROUNDS = 6


def call(port, method, path, token=None, body=None):
    """One request on a connection of its own: `(status, parsed body or None)`."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(payload) if payload else None
    except ValueError:
        return response.status, payload


def at_once(*requests):
    """Runs `(port, method, path, token, body)` requests in threads released together."""
    barrier = threading.Barrier(len(requests))
    answers = [None] * len(requests)

    def run(n, request):
        barrier.wait(timeout=30)
        answers[n] = call(*request)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return answers


@pytest.fixture
def server(server_process):
    return server_process(workers=2, threads=4)


@pytest.mark.django_db(transaction=True)
def test_a_patch_racing_a_delete_never_brings_a_user_back(server, make_user, staff):
    staff_token = token_for(staff)
    statuses = Counter()
    for _ in range(2 * ROUNDS):
        user = make_user()
        own = token_for(user)
        patches = [(server.port, "PATCH", f"/users/{user.pk}", own, {"last_name": "x"})] * 6
        delete = (server.port, "DELETE", f"/users/{user.pk}", staff_token, None)
        answers = at_once(*patches, delete)

        statuses.update(status for status, _ in answers)
        assert answers[-1][0] == 200
        assert {status for status, _ in answers[:-1]} <= {200, 401, 404}
        assert not User.objects.filter(pk=user.pk).exists()
        assert not User.objects.filter(email=user.email).exists()
    assert 500 not in statuses


@pytest.mark.django_db(transaction=True)
def test_a_patch_racing_a_delete_never_brings_a_product_back(server, staff):
    token = token_for(staff)
    for n in range(ROUNDS):
        product = Product.objects.create(sku=f"RACE-{n}", name="Racing", price="1.00")
        patches = [(server.port, "PATCH", f"/products/{product.pk}", token, {"name": "y"})] * 4
        delete = (server.port, "DELETE", f"/products/{product.pk}", token, None)
        answers = at_once(*patches, delete)

        assert answers[-1][0] == 200
        assert {status for status, _ in answers[:-1]} <= {200, 404}
        assert not Product.objects.filter(pk=product.pk).exists()
        assert not Product.objects.filter(sku=product.sku).exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_customer_who_is_buying_detaches_or_refuses_never_500(server, make_user, staff):
    staff_token = token_for(staff)
    product = Product.objects.create(sku="BUY-1", name="Bought", price="3.00")
    for _ in range(ROUNDS):
        user = make_user()
        own = token_for(user)
        body = {"user_id": user.pk, "product_id": product.pk}
        buys = [(server.port, "POST", "/purchases", own, body)] * 4
        sign_in = (server.port, "POST", "/auth/token", None, {"email": user.email, "password": "x"})
        delete = (server.port, "DELETE", f"/users/{user.pk}", staff_token, None)
        answers = at_once(*buys, sign_in, delete)

        assert answers[-1][0] == 200
        # A purchase either went in before the delete (and is now detached) or after it
        # (the user is gone: 400, or 401 once the token went with the user).
        assert {status for status, _ in answers[:4]} <= {201, 400, 401}
        assert answers[4][0] in (400, 404)
        created = [body["id"] for status, body in answers[:4] if status == 201]
        detached = Purchase.objects.filter(pk__in=created)
        assert detached.count() == len(created)
        assert all(p.user_id is None and p.customer_email == user.email for p in detached)


@pytest.mark.django_db(transaction=True)
def test_deleting_a_product_during_its_first_purchases_is_409_or_200_never_500(
    server, make_user, staff
):
    staff_token = token_for(staff)
    customer = make_user()
    own = token_for(customer)
    for n in range(ROUNDS):
        product = Product.objects.create(sku=f"FIRST-{n}", name="New", price="2.00")
        body = {"user_id": customer.pk, "product_id": product.pk}
        buys = [(server.port, "POST", "/purchases", own, body)] * 4
        delete = (server.port, "DELETE", f"/products/{product.pk}", staff_token, None)
        answers = at_once(*buys, delete)

        bought = [status for status, _ in answers[:4]]
        assert set(bought) <= {201, 400}
        if answers[-1][0] == 200:
            assert not Product.objects.filter(pk=product.pk).exists()
            assert 201 not in bought
        else:
            assert answers[-1][0] == 409
            assert Purchase.objects.filter(product_id=product.pk).count() == bought.count(201)


@pytest.mark.django_db(transaction=True)
def test_patch_and_delete_of_one_purchase_exactly_one_delete_wins(server, make_user, staff):
    token = token_for(staff)
    customer = make_user()
    product = Product.objects.create(sku="ONE-1", name="One", price="5.00")
    for _ in range(ROUNDS):
        status, created = call(
            server.port,
            "POST",
            "/purchases",
            token,
            {"user_id": customer.pk, "product_id": product.pk},
        )
        assert status == 201
        path = f"/purchases/{created['id']}"
        patches = [(server.port, "PATCH", path, token, {"quantity": 3})] * 8
        deletes = [(server.port, "DELETE", path, token, None)] * 2
        answers = at_once(*patches, *deletes)

        assert sorted(status for status, _ in answers[8:]) == [200, 404]
        assert {status for status, _ in answers[:8]} <= {200, 404}
        assert not Purchase.objects.filter(pk=created["id"]).exists()
