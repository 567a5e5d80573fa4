"""A small HTTP load generator for the tests against a server process (no Django imports).

It runs in the test's threads and in child processes started with `spawn`, so it
imports nothing that needs Django's settings. Times are `time.monotonic()`,
which on Linux is one clock for every process of the machine.
"""

import http.client
import json
import random
import threading
import time


def post_purchases(port, token, user_id, product_ids, count, seed, stop=None, on_created=None):
    """POSTs `count` purchases one after another on a kept-alive connection.

    Returns one record per request: `{"status", "id", "product_id", "unit_price",
    "sent", "answered"}`; a connection error is status `None` and ends the loop
    (the server is gone).
    """
    rng = random.Random(seed)
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    records = []
    try:
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            product_id = rng.choice(product_ids)
            body = {"user_id": user_id, "product_id": product_id, "quantity": rng.randint(1, 3)}
            record = {"status": None, "id": None, "product_id": product_id}
            record.update(quantity=body["quantity"], sent=time.monotonic())
            try:
                connection.request("POST", "/purchases", json.dumps(body), headers)
                response = connection.getresponse()
                payload = response.read()
                record["answered"] = time.monotonic()
                record["status"] = response.status
                if response.status == 201:
                    created = json.loads(payload)
                    record["id"] = created["id"]
                    record["unit_price"] = created["unit_price"]
                    if on_created is not None:
                        on_created()
            except (OSError, http.client.HTTPException, ValueError) as error:
                record["answered"] = time.monotonic()
                record["error"] = repr(error)
                records.append(record)
                break
            records.append(record)
    finally:
        connection.close()
    return records


def burst(args):
    """One process's share: `threads` clients posting `per_thread` purchases each."""
    port, token, user_id, product_ids, threads, per_thread, seed = args
    results = [[] for _ in range(threads)]

    def client(n):
        results[n] = post_purchases(
            port, token, user_id, product_ids, per_thread, seed=seed * 1000 + n
        )

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [record for records in results for record in records]
