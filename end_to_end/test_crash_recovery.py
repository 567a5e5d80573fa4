"""PostgreSQL only: the API server killed with SIGKILL mid-burst loses no acknowledged purchase.

A real gunicorn (2 workers, 4 threads each, the test database) takes a burst of
purchase creations from 16 clients; once some have been answered 201, the whole
server (master and workers) is killed with SIGKILL. Every purchase the server
said it created must exist afterwards, as it was answered; a purchase committed
whose answer was lost is allowed (the client never heard of it). A new server
on the same database then works normally.
(The backfill killed mid-file is in products/tests/test_postgres.py.)
"""

import threading
from decimal import Decimal

import pytest

from end_to_end import loadgen
from end_to_end.conftest import token_for
from products.models import Product
from purchases.models import Purchase

CLIENTS = 16
PER_CLIENT = 40
KILL_AFTER = 60  # 201s seen before the kill


@pytest.mark.django_db(transaction=True)
def test_a_server_killed_mid_burst_loses_no_acknowledged_purchase(server_process, make_user):
    customers = [make_user() for _ in range(4)]
    tokens = [token_for(customer) for customer in customers]
    product_ids = [
        Product.objects.create(sku=f"CR-{n}", name=f"Crash {n}", price=f"{n}.25").pk
        for n in range(1, 6)
    ]
    server = server_process(workers=2, threads=4)

    created = threading.Semaphore(0)
    results = [[] for _ in range(CLIENTS)]

    def client(n):
        results[n] = loadgen.post_purchases(
            server.port,
            tokens[n % 4],
            customers[n % 4].pk,
            product_ids,
            PER_CLIENT,
            seed=n,
            on_created=created.release,
        )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for _ in range(KILL_AFTER):
        assert created.acquire(timeout=60), "the server stopped answering before the kill"
    server.kill()
    for thread in threads:
        thread.join(timeout=120)

    records = [record for records in results for record in records]
    acknowledged = [record for record in records if record["status"] == 201]
    assert len(acknowledged) >= KILL_AFTER
    assert all(record["status"] in (201, None) for record in records), "no other answer"
    assert sum(record["status"] is None for record in records) > 0, "the kill cut requests"
    assert len(acknowledged) < CLIENTS * PER_CLIENT, "the burst ended before the kill"

    stored = {p.pk: p for p in Purchase.objects.filter(pk__in=[r["id"] for r in acknowledged])}
    missing = [record["id"] for record in acknowledged if record["id"] not in stored]
    assert missing == [], f"acknowledged purchases lost: {missing}"
    for record in acknowledged:
        purchase = stored[record["id"]]
        assert purchase.product_id == record["product_id"]
        assert purchase.quantity == record["quantity"]
        assert purchase.unit_price == Decimal(record["unit_price"])
    # At most the requests in flight at the kill were committed without an answer.
    assert Purchase.objects.count() - len(acknowledged) <= CLIENTS

    # A new server on the same database carries on.
    again = server_process(workers=1, threads=2)
    after = loadgen.post_purchases(again.port, tokens[0], customers[0].pk, product_ids, 3, seed=99)
    assert [record["status"] for record in after] == [201, 201, 201]
