"""PostgreSQL only: 200 purchases from many processes and threads while a backfill reprices.

A real gunicorn (2 workers, 4 threads each) on the test database takes 200 purchase
creations from 4 processes of 5 threads, while this process runs the backfill
over and over, alternating between two price files. Then:

- no 5xx, no connection error: every request was answered 201;
- every 201 is recorded exactly once: the purchases in the database are exactly
  the ids answered, each once;
- each purchase's unit price is one the product really had, and the one it had
  at some moment between the request and the response: the catalogue's state
  at time t lies between the backfill runs certainly committed by t (finished
  before t) and those possibly committed by t (started before t).
"""

import multiprocessing
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from end_to_end import loadgen
from end_to_end.conftest import token_for
from products.backfill import run_backfill
from products.models import Product
from purchases.models import Purchase

PROCESSES, THREADS, PER_THREAD = 4, 5, 10  # 200 purchases
PRODUCTS = 8
PAUSE = 0.15  # seconds between two backfill runs: many requests then see one state


def price_file(tmp_path, name, prices):
    path = tmp_path / name
    rows = "".join(f"CC-{n},Concurrent {n},{price}\n" for n, price in enumerate(prices))
    path.write_text("sku,name,price\n" + rows)
    return path


@pytest.mark.django_db(transaction=True)
def test_purchases_racing_a_repricing_backfill(server_process, make_user, tmp_path):
    prices = {
        "A": [Decimal(f"{10 + n}.00") for n in range(PRODUCTS)],
        "B": [Decimal(f"{10 + n}.50") for n in range(PRODUCTS)],
    }
    files = {key: price_file(tmp_path, f"{key}.csv", values) for key, values in prices.items()}
    run_backfill(files["A"])  # state 0: the A prices
    product_ids = list(
        Product.objects.filter(sku__startswith="CC-").order_by("id").values_list("id", flat=True)
    )
    index_of = {
        pk: int(sku.removeprefix("CC-"))
        for pk, sku in Product.objects.filter(pk__in=product_ids).values_list("pk", "sku")
    }
    customers = [make_user() for _ in range(PROCESSES)]
    tokens = [token_for(customer) for customer in customers]
    server = server_process(workers=2, threads=4)

    # The backfill alternates B, A, B, ... until the purchases are done.
    runs = []  # (started, finished, file key) of each committed run, in order
    done = threading.Event()
    errors = []

    def reprice():
        try:
            key = "B"
            while not done.is_set():
                started = time.monotonic()
                run = run_backfill(files[key], wait=30)
                runs.append((started, time.monotonic(), key))
                assert run.updated == PRODUCTS, run.status
                key = "A" if key == "B" else "B"
                done.wait(PAUSE)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    backfill = threading.Thread(target=reprice)
    backfill.start()
    jobs = [
        (server.port, tokens[n], customers[n].pk, product_ids, THREADS, PER_THREAD, n)
        for n in range(PROCESSES)
    ]
    try:
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            records = [record for part in pool.map(loadgen.burst, jobs) for record in part]
    finally:
        done.set()
        backfill.join(timeout=120)
    assert errors == []
    assert len(runs) >= 3, "the backfill should have run several times during the burst"

    statuses = Counter(record["status"] for record in records)
    assert statuses == {201: PROCESSES * THREADS * PER_THREAD}, statuses
    ids = [record["id"] for record in records]
    assert len(set(ids)) == len(ids)
    stored = dict(Purchase.objects.values_list("id", "unit_price"))
    assert sorted(stored) == sorted(ids), "the database holds exactly the purchases answered"

    def prices_between(product_id, sent, answered):
        certainly = sum(finished <= sent for _, finished, _ in runs)
        possibly = sum(started <= answered for started, _, _ in runs)
        states = ["A"] + [key for _, _, key in runs]
        return {prices[states[i]][index_of[product_id]] for i in range(certainly, possibly + 1)}

    every_price = {price for values in prices.values() for price in values}
    repriced = 0
    for record in records:
        paid = stored[record["id"]]
        assert paid == Decimal(record["unit_price"])
        assert paid in every_price
        allowed = prices_between(record["product_id"], record["sent"], record["answered"])
        assert paid in allowed, (record, allowed)
        repriced += paid != prices["A"][index_of[record["product_id"]]]
    assert repriced > 0, "some purchases should have paid the B prices"
    # How sharp the check above is depends on the machine: on a quiet one many requests
    # fall within one state of the catalogue (a price from the wrong state fails them); on a
    # loaded one a request spans several runs and fewer do. Not asserted, for that reason.
