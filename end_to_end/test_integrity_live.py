"""PostgreSQL only: writes racing the deletion of their row or of the row they point to.

Each test fires a handful of requests at once at a real gunicorn (threads release
together from a barrier), over several rounds, and checks what must hold whatever
the interleaving: no 500, a deleted row stays deleted, exactly one DELETE wins,
and every acknowledged write is recorded consistently. Bounded: a few rounds of a
few requests each, every request with a timeout.
"""

import http.client
import io
import json
import threading
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections

from end_to_end.conftest import token_for
from products.models import Product
from purchases import totals
from purchases.models import Purchase
from shop.tests.integrity_helpers import call_concurrently
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


# --- Purchases moving between customers, and the sales totals rebuild ---------------------

MOVERS = 16  # concurrent moves of one purchase, as many as the server has threads


def server_log(server):
    server.log.seek(0)
    return server.log.read().decode(errors="replace")[-4000:]


@pytest.fixture
def busy_server(server_process):
    """As many threads as the races below send requests at once; sign-ups not throttled."""
    return server_process(workers=2, threads=MOVERS // 2, env={"SHOP_SIGNUP_RATE": "10000/hour"})


@pytest.mark.django_db(transaction=True)
def test_a_purchase_moved_between_three_customers_at_once_is_moved_one_after_another(
    busy_server, make_user, staff
):
    token = token_for(staff)
    customers = [make_user() for _ in range(3)]
    product = Product.objects.create(sku="MOVE-1", name="Moved", price="4.25")
    status, created = call(
        busy_server.port,
        "POST",
        "/purchases",
        token,
        {"user_id": customers[0].pk, "product_id": product.pk, "quantity": 2},
    )
    assert status == 201
    path = f"/purchases/{created['id']}"
    for _ in range(3):
        moves = [
            (busy_server.port, "PATCH", path, token, {"user_id": customers[n % 3].pk})
            for n in range(MOVERS)
        ]
        answers = at_once(*moves)

        assert [status for status, _ in answers] == [200] * MOVERS, server_log(busy_server)
        # Each move answers the purchase as it left it: with the customer it asked for.
        assert [body["user_id"] for _, body in answers] == [
            customers[n % 3].pk for n in range(MOVERS)
        ]
    moved = Purchase.objects.get(pk=created["id"])
    assert moved.user_id in {customer.pk for customer in customers}
    assert moved.customer_email == User.objects.get(pk=moved.user_id).email
    assert totals.drift() == []


@pytest.mark.django_db(transaction=True)
def test_moving_a_purchase_between_customers_while_one_is_deleted_never_500(
    busy_server, make_user, staff
):
    token = token_for(staff)
    product = Product.objects.create(sku="MOVE-2", name="Moved", price="1.10")
    statuses = Counter()
    for _ in range(ROUNDS):
        customers = [make_user() for _ in range(3)]
        doomed = customers[1]
        status, created = call(
            busy_server.port,
            "POST",
            "/purchases",
            token,
            {"user_id": customers[0].pk, "product_id": product.pk},
        )
        assert status == 201
        path = f"/purchases/{created['id']}"
        moves = [
            (busy_server.port, "PATCH", path, token, {"user_id": customers[n % 3].pk})
            for n in range(MOVERS - 1)
        ]
        delete = (busy_server.port, "DELETE", f"/users/{doomed.pk}", token, None)
        answers = at_once(*moves, delete)

        statuses.update(status for status, _ in answers)
        assert answers[-1][0] == 200, server_log(busy_server)
        # A move to the deleted customer after the deletion is refused (400); all else applies.
        for n, (status, _) in enumerate(answers[:-1]):
            assert status in ((200, 400) if n % 3 == 1 else (200,)), server_log(busy_server)
        assert not User.objects.filter(pk=doomed.pk).exists()
        moved = Purchase.objects.get(pk=created["id"])
        assert moved.user_id != doomed.pk
    assert 500 not in statuses
    assert totals.drift() == []


MAX_REBUILDS = 200


def rebuild_in_a_loop(stop, outcomes):
    """Rebuilds the sales totals until `stop` is set (at most `MAX_REBUILDS` times); each
    outcome is "ok" or the error."""
    try:
        while not stop.is_set():
            try:
                call_command("rebuild_sales_totals", stdout=io.StringIO())
                outcomes.append("ok")
                if len(outcomes) >= MAX_REBUILDS:
                    return
            except DatabaseError as error:
                outcomes.append(f"{type(error).__name__}: {error}")
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_rebuilding_the_totals_while_customers_sign_up_buy_and_are_deleted_never_deadlocks(
    busy_server, staff
):
    token = token_for(staff)
    products = [
        Product.objects.create(sku=f"REBUILD-{n}", name="Rebuilt", price=f"{n + 1}.50")
        for n in range(3)
    ]
    clients, rounds = 8, 3

    def client(n):
        answers = []  # (what, status) of the purchases and the deletions
        for round_ in range(rounds):
            status, user = call(
                busy_server.port,
                "POST",
                "/users",
                None,
                {
                    "email": f"r{n}-{round_}@rebuild.example",
                    "password": "a long pass phrase",
                    "first_name": "Re",
                    "last_name": "Built",
                    "gender": "n/a",
                },
            )
            assert status == 201, (status, user)
            for product in products[: 1 + (n + round_) % 3]:
                body = {"user_id": user["id"], "product_id": product.pk, "quantity": 1 + n % 2}
                answers.append(
                    ("buy", call(busy_server.port, "POST", "/purchases", token, body)[0])
                )
            path = f"/users/{user['id']}"
            answers.append(("delete", call(busy_server.port, "DELETE", path, token)[0]))
        return answers

    stop, outcomes = threading.Event(), []  # the rebuilds' outcomes
    rebuilder = threading.Thread(target=rebuild_in_a_loop, args=(stop, outcomes))
    rebuilder.start()
    try:
        answers = call_concurrently(client, clients, timeout=120)
    finally:
        stop.set()
        rebuilder.join(timeout=60)

    failed = [outcome for outcome in outcomes if outcome != "ok"]
    assert not failed, failed[:3]
    assert outcomes, "the rebuild never ran"
    answers = [answer for client_answers in answers for answer in client_answers]
    assert {status for what, status in answers if what == "buy"} == {201}, server_log(busy_server)
    assert {status for what, status in answers if what == "delete"} == {200}, server_log(
        busy_server
    )
    assert not User.objects.filter(email__endswith="@rebuild.example").exists()
    bought = Purchase.objects.filter(product__in=products)
    assert bought.count() == len([what for what, _ in answers if what == "buy"])
    assert not bought.filter(user__isnull=False).exists()
    assert totals.drift() == []
