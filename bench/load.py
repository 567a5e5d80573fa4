"""Load benchmark: the API under gunicorn on loopback, against a bare Django view (not a test).

    .venv/bin/python bench/load.py                      # 10 s per endpoint, 16 clients
    .venv/bin/python bench/load.py --duration 30 --clients 32

It uses the analytics bench's database (default
`postgres://postgres@127.0.0.1:5432/shop_analytics_bench`: 100,000 users, 10,000
products, 1,000,000 purchases; loaded by bench/analytics.py's loader if missing),
serves the project with gunicorn on 127.0.0.1 with production settings
(`DJANGO_DEBUG=0`), and drives each endpoint from a load generator in other
processes: a fixed number of closed-loop clients (keep-alive connections, one
request in flight each) for a fixed duration after a warm-up. Every client
finishes the request it has in flight when the clock stops, so each 201 it saw
is a purchase the database must hold: the bench checks that exactly.

The floor is a bare Django view answering a fixed JSON body through the same
gunicorn and middleware (bench/urls.py): each endpoint's share of the floor is
what our code costs on top of serving any request at all. The target is
reads >= 60 % of the floor, 0 errors, and purchases created == 201s seen.

gunicorn runs `--workers 3 --threads 4` (gthread): on 2 cores, three processes
keep both cores busy while one waits on PostgreSQL, and the threads cover the
database round trips without a process per connection.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics import DEFAULT_URL, counts, ensure_database, load  # noqa: E402

PORT = 8799
USERS, PRODUCTS, PURCHASES = 100_000, 10_000, 1_000_000


def endpoints(window):
    """(name, method, path maker, body maker, is a read held to the target)."""

    def product_path(rng):
        return f"/products/{rng.randint(1, PRODUCTS)}"

    def history_path(rng):
        user_id = rng.randint(1, USERS)
        if user_id % 100 == 0:  # the loader deleted every hundredth customer
            user_id += 1
        return f"/purchases/user/{user_id}?page_size=20"

    def purchase_body(rng):
        user_id = rng.randint(1, USERS)
        if user_id % 100 == 0:
            user_id += 1
        return {"user_id": user_id, "product_id": rng.randint(1, PRODUCTS), "quantity": 1}

    analytic = "/purchases/analytic/"
    return [
        ("floor: bare Django view", "GET", lambda rng: "/bench/floor", None, False),
        ("GET /products/{id}", "GET", product_path, None, True),
        ("GET /purchases/user/{id}", "GET", history_path, None, True),
        ("POST /purchases", "POST", lambda rng: "/purchases", purchase_body, False),
        (
            "GET most_valuable_customer, 30 days",
            "GET",
            lambda rng: f"{analytic}most_valuable_customer?{window}",
            None,
            False,
        ),
        (
            "GET most_popular_product, 30 days",
            "GET",
            lambda rng: f"{analytic}most_popular_product?{window}",
            None,
            False,
        ),
        (
            "GET most_valuable_customer, all time",
            "GET",
            lambda rng: f"{analytic}most_valuable_customer",
            None,
            False,
        ),
        (
            "GET most_popular_product, all time",
            "GET",
            lambda rng: f"{analytic}most_popular_product",
            None,
            False,
        ),
    ]


# --- the load generator (runs in child processes) --------------------------------


def client_loop(args):
    """One closed-loop client: requests back to back until `deadline`, then stops."""
    endpoint_index, token, window, seed, warmup_until, deadline = args
    _, method, path_of, body_of, _ = endpoints(window)[endpoint_index]
    rng = random.Random(seed)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if body_of is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    latencies, statuses, errors, created = [], {}, 0, 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        body = json.dumps(body_of(rng)) if body_of else None
        started = time.monotonic()
        try:
            connection.request(method, path_of(rng), body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
            status = "connection error"
        elapsed = time.monotonic() - started
        measured = started >= warmup_until
        # Every 201 counts, warm-up or not: each is a purchase the database must hold.
        created += status == 201
        if measured:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            errors += not (isinstance(status, int) and 200 <= status < 300)
    connection.close()
    return latencies, statuses, errors, created


def drive(pool, endpoint_index, token, window, clients, warmup, duration):
    start = time.monotonic() + 0.5
    warmup_until, deadline = start + warmup, start + warmup + duration
    jobs = [
        (endpoint_index, token, window, seed, warmup_until, deadline) for seed in range(clients)
    ]
    results = pool.map(client_loop, jobs, chunksize=1)
    latencies = sorted(lat for result in results for lat in result[0])
    statuses = {}
    for result in results:
        for status, count in result[1].items():
            statuses[status] = statuses.get(status, 0) + count
    errors = sum(result[2] for result in results)
    created = sum(result[3] for result in results)
    return latencies, statuses, errors, created


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


# --- the server -------------------------------------------------------------------


def start_gunicorn(database_url, workers, threads):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_CONN_MAX_AGE": "600",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "shop.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/bench/floor")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"gunicorn did not answer on 127.0.0.1:{PORT}")


def stop(server):
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


# --- main ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    ensure_database(args.database_url)

    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from knox.models import AuthToken

    from purchases.models import Purchase
    from users.models import User

    call_command("migrate", verbosity=0)
    if counts() != (USERS - USERS // 100, PRODUCTS, PURCHASES):
        load({"users": USERS, "products": PRODUCTS, "purchases": PURCHASES})
    staff, _ = User.objects.get_or_create(
        email="load-staff@bench.example",
        defaults={"first_name": "Load", "last_name": "Staff", "is_staff": True},
    )
    _, token = AuthToken.objects.create(user=staff)
    latest = Purchase.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    window = f"since={(latest - timedelta(days=30)).date().isoformat()}"
    first_new_id = Purchase.objects.order_by("-id").values_list("id", flat=True)[0] + 1

    from django.db import connections

    connections.close_all()
    print(
        f"data: {counts()[0]:,} users, {counts()[1]:,} products, {counts()[2]:,} purchases;"
        f" gunicorn --workers {args.workers} --threads {args.threads} (gthread) on 127.0.0.1;"
        f" {args.clients} clients, {args.warmup:g} s warm-up + {args.duration:g} s each"
    )
    server = start_gunicorn(args.database_url, args.workers, args.threads)
    context = multiprocessing.get_context("spawn")
    rows, floor = [], None
    try:
        with context.Pool(args.clients) as pool:
            for index, (name, method, *_rest, is_read) in enumerate(endpoints(window)):
                before = Purchase.objects.count() if method == "POST" else None
                latencies, statuses, errors, created = drive(
                    pool, index, token, window, args.clients, args.warmup, args.duration
                )
                rate = len(latencies) / args.duration
                floor = floor or rate
                created_check = ""
                if method == "POST":
                    added = Purchase.objects.count() - before
                    created_check = f"  purchases added {added}, 201s seen {created}"
                    created_check += " (equal)" if added == created else " (MISMATCH)"
                rows.append((name, rate, latencies, errors, is_read))
                print(
                    f"{name:38} {rate:8.1f} req/s  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms"
                    f"  p99 {percentile(latencies, 0.99) * 1000:7.1f} ms  errors {errors}"
                    f"  {rate / floor:6.1%} of floor{created_check}",
                    flush=True,
                )
                if errors:
                    print(f"{'':38} statuses: {statuses}", flush=True)
    finally:
        stop(server)
        # Leave the data as the analytics bench expects it.
        Purchase.objects.filter(id__gte=first_new_id).delete()
        AuthToken.objects.filter(user=staff).delete()
    reads = [rate / floor for name, rate, _, _, is_read in rows if is_read]
    errors = sum(row[3] for row in rows)
    print(
        f"reads: worst {min(reads):.1%} of the floor (target >= 60%); errors in all runs: {errors}"
    )


if __name__ == "__main__":
    main()
