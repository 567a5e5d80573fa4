"""PostgreSQL only: the sales totals stay exact under 200 concurrent purchase writes over HTTP.

A real gunicorn (2 workers, 4 threads each) on the test database takes 200 writes
from 4 processes of 5 threads: purchases created by customers for themselves and by
staff for anyone, quantities and products changed, purchases moved to another
customer, purchases deleted (often the same ones at once, from several clients),
a product re-priced and, midway, a customer deleted. Then:

- no 5xx, no connection error: each write was answered 2xx, or 404 for a purchase
  another client had just deleted, or 400 for the deleted customer;
- `rebuild_sales_totals --check` finds no drift: every totals row equals the
  aggregate over the purchases;
- the all-time endpoints (the totals) answer what the same request over a window
  holding every purchase (the aggregate) answers.

The writers run in processes started with `spawn`, which import this module: it
imports nothing at module level that needs Django's settings.
"""

import http.client
import json
import multiprocessing
import random
import threading

import pytest

PROCESSES, THREADS, PER_THREAD = 4, 5, 10  # 200 writes
CUSTOMERS, PRODUCTS, SEEDED = 4, 6, 24
ACCEPTED = {200, 201, 404}  # 404: a purchase deleted by another client meanwhile


def request(connection, method, path, token, body=None):
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, None if body is None else json.dumps(body), headers)
    response = connection.getresponse()
    payload = response.read()
    return response.status, (json.loads(payload) if payload else None)


def next_write(rng, plan, known):
    """A random write: `(kind, method, path, token, body, involves the doomed customer)`."""
    staff, doomed = plan["staff"], plan["doomed"]
    everyone = [customer_id for customer_id, _ in plan["customers"]] + [doomed]
    target = f"/purchases/{rng.choice(known)}"
    roll = rng.random()
    if roll < 0.35:  # a customer buys for themself, or staff for anyone
        user_id, token = rng.choice(plan["customers"])
        if rng.random() < 0.4:
            user_id, token = rng.choice(everyone), staff
        body = {
            "user_id": user_id,
            "product_id": rng.choice(plan["products"]),
            "quantity": rng.randint(1, 4),
        }
        return "create", "POST", "/purchases", token, body, user_id == doomed
    if roll < 0.55:
        return "quantity", "PATCH", target, staff, {"quantity": rng.randint(1, 6)}, False
    if roll < 0.70:
        body = {"product_id": rng.choice(plan["products"])}
        if rng.random() < 0.5:
            body["quantity"] = rng.randint(1, 6)
        return "product", "PATCH", target, staff, body, False
    if roll < 0.80:
        user_id = rng.choice(everyone)
        return "customer", "PATCH", target, staff, {"user_id": user_id}, user_id == doomed
    if roll < 0.97:
        return "delete", "DELETE", target, staff, None, False
    price = f"{rng.randint(1, 30)}.{rng.randint(0, 99):02d}"
    path = f"/products/{rng.choice(plan['products'])}"
    return "reprice", "PATCH", path, staff, {"price": price}, False


def writer(port, plan, seed, known):
    """One client's `PER_THREAD` random writes; returns one record per write.

    `plan` holds the tokens and ids: `staff`, `customers` [(id, token)], `doomed` (the
    customer deleted midway), `products`. `known` is the list of purchase ids shared by
    the threads of this process (creations are added to it).
    """
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    records = []
    try:
        for _ in range(PER_THREAD):
            kind, method, path, token, body, doomed = next_write(rng, plan, known)
            status, answer = request(connection, method, path, token, body)
            if kind == "create" and status == 201:
                known.append(answer["id"])
            records.append({"kind": kind, "status": status, "doomed": doomed})
    except (OSError, http.client.HTTPException, ValueError) as error:
        records.append({"kind": "connection", "status": None, "error": repr(error)})
    finally:
        connection.close()
    return records


def process_share(args):
    """One process: `THREADS` writers sharing its list of purchase ids; one may delete `doomed`."""
    port, plan, seed, deletes_doomed = args
    known = list(plan["seeded"])
    results = [[] for _ in range(THREADS)]

    def run(n):
        results[n] = writer(port, plan, seed * 100 + n, known)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    if deletes_doomed:  # while the writers are under way
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            status, _ = request(connection, "DELETE", f"/users/{plan['doomed']}", plan["staff"])
        finally:
            connection.close()
        results.append([{"kind": "delete customer", "status": status, "doomed": True}])
    for thread in threads:
        thread.join()
    return [record for records in results for record in records]


@pytest.mark.django_db(transaction=True)
def test_totals_stay_exact_under_concurrent_purchase_writes(server_process, make_user, staff):
    from decimal import Decimal

    from django.core.management import call_command

    from end_to_end.conftest import token_for
    from products.models import Product
    from purchases import services

    customers = [make_user() for _ in range(CUSTOMERS)]
    doomed = make_user()
    products = [
        Product.objects.create(sku=f"LT-{n}", name=f"Live {n}", price=Decimal(f"{n + 1}.25"))
        for n in range(PRODUCTS)
    ]
    seeded = [
        services.create_purchase(
            user=[*customers, doomed][n % (CUSTOMERS + 1)],
            product=products[n % PRODUCTS],
            quantity=1 + n % 3,
        ).pk
        for n in range(SEEDED)
    ]
    plan = {
        "staff": token_for(staff),
        "customers": [(customer.pk, token_for(customer)) for customer in customers],
        "doomed": doomed.pk,
        "products": [product.pk for product in products],
        "seeded": seeded,
    }
    server = server_process(workers=2, threads=4)

    jobs = [(server.port, plan, n, n == 0) for n in range(PROCESSES)]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        records = [record for part in pool.map(process_share, jobs) for record in part]

    writes = [r for r in records if r["kind"] != "delete customer"]
    assert len(writes) == PROCESSES * THREADS * PER_THREAD, records[-3:]
    refused = [
        r
        for r in records
        if r["status"] not in ACCEPTED and not (r["doomed"] and r["status"] == 400)
    ]
    assert refused == [], refused[:5]
    statuses = {(r["kind"], r["status"]) for r in records}
    assert ("delete customer", 200) in statuses
    assert {("create", 201), ("quantity", 200), ("product", 200), ("delete", 200)} <= statuses

    call_command("rebuild_sales_totals", "--check")  # raises CommandError on any drift
    check_all_time_answers_equal_the_aggregate(server.port, plan["staff"])


def check_all_time_answers_equal_the_aggregate(port, token):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    window = "since=1900-01-01&until=9000-01-01"
    try:
        for path in (
            "/purchases/analytic/top_customers?limit=100",
            "/purchases/analytic/top_products?limit=100",
            "/purchases/analytic/most_valuable_customer?",
            "/purchases/analytic/most_popular_product?",
        ):
            all_time = request(connection, "GET", path, token)
            windowed = request(connection, "GET", f"{path}&{window}", token)
            assert all_time[0] == 200, (path, all_time)
            assert all_time == windowed, path
    finally:
        connection.close()
