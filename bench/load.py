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

The signed-in floor is the same fixed body from a DRF view that requires the
API's token: the share of the floor that any endpoint needing a signed-in user
can reach at best. The product read runs anonymous (products are public) and
with a token; the history runs as staff reading any customer and as customers
reading their own (client i is customer i, with a token of its own).

gunicorn runs with gunicorn.conf.py (the production configuration; `--workers`
and `--threads` override it). `--only TEXT` runs the rows whose name contains
TEXT, after the floor.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import runpy
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics import DEFAULT_URL, counts, ensure_database, load  # noqa: E402
from shop.tests.servers import Server  # noqa: E402

USERS, PRODUCTS, PURCHASES = 100_000, 10_000, 1_000_000


def endpoints(window):
    """(name, method, path maker, body maker, who sends it, is a read held to the target).

    Makers take the client's random generator and its own customer id. "who" is
    the token sent: a staff member's, the client's own customer's, or none.
    """

    def product_path(rng, me):
        return f"/products/{rng.randint(1, PRODUCTS)}"

    def any_user(rng):
        user_id = rng.randint(1, USERS)
        return user_id + 1 if user_id % 100 == 0 else user_id  # every hundredth was deleted

    def purchase_body(rng, me):
        return {"user_id": any_user(rng), "product_id": rng.randint(1, PRODUCTS), "quantity": 1}

    def fixed(path):
        return lambda rng, me: path

    analytic = "/purchases/analytic/"
    return [
        ("floor: bare Django view", "GET", fixed("/bench/floor"), None, "staff", False),
        (
            "signed-in floor: DRF view, token",
            "GET",
            fixed("/bench/signed-in-floor"),
            None,
            "staff",
            False,
        ),
        ("GET /products/{id}, anonymous", "GET", product_path, None, "anonymous", True),
        ("GET /products/{id}, with a token", "GET", product_path, None, "staff", True),
        (
            "GET /purchases/user/{id}, staff, any",
            "GET",
            lambda rng, me: f"/purchases/user/{any_user(rng)}?page_size=20",
            None,
            "staff",
            True,
        ),
        (
            "GET /purchases/user/{id}, customer, own",
            "GET",
            lambda rng, me: f"/purchases/user/{me}?page_size=20",
            None,
            "customer",
            True,
        ),
        ("POST /purchases", "POST", fixed("/purchases"), purchase_body, "staff", False),
        (
            "GET most_valuable_customer, 30 days",
            "GET",
            fixed(f"{analytic}most_valuable_customer?{window}"),
            None,
            "staff",
            False,
        ),
        (
            "GET most_popular_product, 30 days",
            "GET",
            fixed(f"{analytic}most_popular_product?{window}"),
            None,
            "staff",
            False,
        ),
        (
            "GET most_valuable_customer, all time",
            "GET",
            fixed(f"{analytic}most_valuable_customer"),
            None,
            "staff",
            False,
        ),
        (
            "GET most_popular_product, all time",
            "GET",
            fixed(f"{analytic}most_popular_product"),
            None,
            "staff",
            False,
        ),
    ]


# --- the load generator (runs in child processes) --------------------------------


def client_loop(args):
    """One closed-loop client: requests back to back until `deadline`, then stops."""
    port, endpoint_index, token, me, window, seed, warmup_until, deadline = args
    _, method, path_of, body_of, _, _ = endpoints(window)[endpoint_index]
    rng = random.Random(seed)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if body_of is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, statuses, errors, created = [], {}, 0, 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        body = json.dumps(body_of(rng, me)) if body_of else None
        started = time.monotonic()
        try:
            connection.request(method, path_of(rng, me), body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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


def drive(pool, port, endpoint_index, credentials, window, warmup, duration):
    """Runs one client per (token, customer id) in `credentials`; returns what they saw."""
    start = time.monotonic() + 0.5
    warmup_until, deadline = start + warmup, start + warmup + duration
    jobs = [
        (port, endpoint_index, token, me, window, seed, warmup_until, deadline)
        for seed, (token, me) in enumerate(credentials)
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


def prepare(database_url, clients):
    """Sets Django up on the bench database (loading it if needed) and signs the clients in.

    Returns `(credentials, window, cleanup)`: per kind of client ("staff",
    "customer", "anonymous"), one (token, customer id) pair per client; the
    analytics window's query string; and a function that removes the purchases
    and tokens the run made, leaving the data as the analytics bench expects it.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    ensure_database(database_url)

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
    call_command("collectstatic", interactive=False, verbosity=0)  # as a deployment would
    staff, _ = User.objects.get_or_create(
        email="load-staff@bench.example",
        defaults={"first_name": "Load", "last_name": "Staff", "is_staff": True},
    )
    _, token = AuthToken.objects.create(user=staff)
    # Client i signs in as customer i, for the rows where customers read their own data.
    customers = list(User.objects.filter(is_staff=False).order_by("pk")[:clients])
    customer_tokens = [AuthToken.objects.create(user=user)[1] for user in customers]
    credentials = {
        "staff": [(token, None)] * clients,
        "customer": [(t, user.pk) for t, user in zip(customer_tokens, customers, strict=True)],
        "anonymous": [(None, None)] * clients,
    }
    latest = Purchase.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    window = f"since={(latest - timedelta(days=30)).date().isoformat()}"
    first_new_id = Purchase.objects.order_by("-id").values_list("id", flat=True)[0] + 1

    def cleanup():
        Purchase.objects.filter(id__gte=first_new_id).delete()
        AuthToken.objects.filter(user__in=[staff, *customers]).delete()

    return credentials, window, cleanup


def selected(only, window):
    """(index, endpoint) for the floor and each row whose name contains one of `only`."""
    for index, endpoint in enumerate(endpoints(window)):
        if index == 0 or not only or any(text in endpoint[0] for text in only):
            yield index, endpoint


# --- main ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients")
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the rows whose name contains TEXT (repeatable; the floor always runs)",
    )
    args = parser.parse_args()

    credentials, window, cleanup = prepare(args.database_url, args.clients)
    from django.db import connections

    from purchases.models import Purchase

    connections.close_all()
    configured = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    args.workers = args.workers or configured["workers"]
    args.threads = args.threads or configured["threads"]
    print(
        f"data: {counts()[0]:,} users, {counts()[1]:,} products, {counts()[2]:,} purchases;"
        f" gunicorn --workers {args.workers} --threads {args.threads} (gthread) on 127.0.0.1;"
        f" {args.clients} clients, {args.warmup:g} s warm-up + {args.duration:g} s each"
    )
    server = Server(
        args.database_url,
        workers=args.workers,
        threads=args.threads,
        settings="bench.settings",
        ready_path="/bench/floor",
        env={"DJANGO_CONN_MAX_AGE": "600"},
    )
    context = multiprocessing.get_context("spawn")
    rows, floor = [], None
    try:
        with context.Pool(args.clients) as pool:
            for index, (name, method, *_rest, who, is_read) in selected(args.only, window):
                before = Purchase.objects.count() if method == "POST" else None
                latencies, statuses, errors, created = drive(
                    pool, server.port, index, credentials[who], window, args.warmup, args.duration
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
                    f"{name:40} {rate:8.1f} req/s  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms"
                    f"  p99 {percentile(latencies, 0.99) * 1000:7.1f} ms  errors {errors}"
                    f"  {rate / floor:6.1%} of floor{created_check}",
                    flush=True,
                )
                if errors:
                    print(f"{'':40} statuses: {statuses}", flush=True)
    finally:
        server.kill(signal.SIGTERM)
        cleanup()
    reads = [rate / floor for name, rate, _, _, is_read in rows if is_read]
    errors = sum(row[3] for row in rows)
    worst = f"worst {min(reads):.1%} of the floor" if reads else "none run"
    print(f"reads: {worst} (target >= 60%); errors in all runs: {errors}")


if __name__ == "__main__":
    main()
