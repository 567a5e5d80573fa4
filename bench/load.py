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
what our code costs on top of serving any request at all (printed for scale).

The signed-in floor is the same fixed body from a DRF view that requires the
API's token: the share of the floor that any endpoint needing a signed-in user
can reach at best. The product read runs anonymous (products are public) and
with a token; the history runs as staff reading any customer and as customers
reading their own (client i is customer i, with a token of its own).

Targets, each against a peer measured in the same run, in the same gunicorn:

- the all-time analytics (read off the sales totals): p99 <= 100 ms, 0 errors;
- `POST /purchases`, which now also records its audit event: >= 0.85x the rate of the
  same creation as the service did it before the audit trail (lock the customer, lock the
  product, insert, the sales totals: `bench/purchases-without-audit`), and >= 0.85x the
  rate of the creation as it was before the days' revenue and the customers' months (its
  audit event and the customer's and product's totals only:
  `bench/purchases-before-rollups`); the creation as it was before the totals too
  (`bench/purchases-without-totals`) is printed for scale;
- the product read with a token: >= 0.9x the same read served by a plain DRF
  project (a stock `ModelViewSet` with DRF's own `TokenAuthentication` and
  `PageNumberPagination`: `bench/peer/products/{id}`);
- 0 errors anywhere, and purchases created == 201s seen.

After the run the purchases it made are deleted and the sales totals rebuilt.

gunicorn runs with gunicorn.conf.py (the production configuration; `--workers`
and `--threads` override it). `--only TEXT` runs the rows whose name contains
TEXT, after the floor. A row held to a peer runs interleaved with it, in `--rounds`
rounds of (ours, peer, peer, ours) sharing its duration, so that the machine's load
moving meanwhile falls on both alike.
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
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics import DEFAULT_URL, counts, ensure_database, load  # noqa: E402
from end_to_end.servers import Server  # noqa: E402

USERS, PRODUCTS, PURCHASES = 100_000, 10_000, 1_000_000


def endpoints(window):
    """(name, method, path maker, body maker, who sends it, is a read held to the target).

    Makers take the client's random generator and its own customer id. "who" is
    the token sent: a staff member's, the client's own customer's, or none.
    """

    def product_path(rng, me):
        return f"/products/{rng.randint(1, PRODUCTS)}"

    def peer_product_path(rng, me):
        return f"/bench/peer/products/{rng.randint(1, PRODUCTS)}"

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
        ("GET /products/{id}, DRF peer, token", "GET", peer_product_path, None, "drf", True),
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
            "POST /purchases as before the audit trail",
            "POST",
            fixed("/bench/purchases-without-audit"),
            purchase_body,
            "staff",
            False,
        ),
        (
            "POST /purchases as before the rollups",
            "POST",
            fixed("/bench/purchases-before-rollups"),
            purchase_body,
            "staff",
            False,
        ),
        (
            "POST /purchases as before the totals",
            "POST",
            fixed("/bench/purchases-without-totals"),
            purchase_body,
            "staff",
            False,
        ),
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


def drive(pool, port, endpoint_index, credentials, window, warmup, duration, seed=0):
    """Runs one client per (token, customer id) in `credentials`; returns what they saw."""
    start = time.monotonic() + 0.5
    warmup_until, deadline = start + warmup, start + warmup + duration
    jobs = [
        (port, endpoint_index, token, me, window, seed + n, warmup_until, deadline)
        for n, (token, me) in enumerate(credentials)
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
    "customer", "anonymous", and "drf": a staff token of DRF's own model for the
    plain-DRF peer), one (token, customer id) pair per client; the analytics
    window's query string; and a function that removes the purchases and tokens
    the run made and rebuilds the sales totals (the purchases made without them,
    and the deletion, went around the service), leaving the data as the analytics
    bench expects it.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    ensure_database(database_url)

    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from knox.models import AuthToken
    from rest_framework.authtoken.models import Token

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
    staff.groups.add(Group.objects.get(name="Owner"))  # a role that may call every endpoint
    _, token = AuthToken.objects.create(user=staff)
    # Client i signs in as customer i, for the rows where customers read their own data.
    customers = list(User.objects.filter(is_staff=False).order_by("pk")[:clients])
    customer_tokens = [AuthToken.objects.create(user=user)[1] for user in customers]
    drf_token, _ = Token.objects.get_or_create(user=staff)
    credentials = {
        "staff": [(token, None)] * clients,
        "drf": [(drf_token.key, None)] * clients,
        "customer": [(t, user.pk) for t, user in zip(customer_tokens, customers, strict=True)],
        "anonymous": [(None, None)] * clients,
    }
    latest = Purchase.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    window = f"since={(latest - timedelta(days=30)).date().isoformat()}"
    first_new_id = Purchase.objects.order_by("-id").values_list("id", flat=True)[0] + 1

    def cleanup():
        Purchase.objects.filter(id__gte=first_new_id).delete()
        AuthToken.objects.filter(user__in=[staff, *customers]).delete()
        Token.objects.filter(user=staff).delete()
        call_command("rebuild_sales_totals")

    return credentials, window, cleanup


def selected(only, window):
    """(index, endpoint) for the floor and each row whose name contains one of `only`."""
    for index, endpoint in enumerate(endpoints(window)):
        if index == 0 or not only or any(text in endpoint[0] for text in only):
            yield index, endpoint


def interleaved(rows, rounds):
    """The order to run `rows` in: `[[(index, endpoint, share of the duration), …], …]`.

    Each inner list is printed together once run. A row held to a peer's rate runs
    interleaved with it in `rounds` rounds of (ours, peer, peer, ours), each slice a
    share of the duration, so that a change in the load of the machine (shared with
    other work) falls on both alike.
    """
    by_name = {endpoint[0]: (index, endpoint) for index, endpoint in rows}
    peers = defaultdict(list)
    for ours, peer, _ in RATE_TARGETS:
        if ours in by_name and peer in by_name:
            peers[ours].append(by_name[peer])
    paired = set(peers) | {peer[1][0] for held in peers.values() for peer in held}
    groups = []
    for index, endpoint in rows:
        name = endpoint[0]
        if name in peers:
            ours, held = (index, endpoint), peers[name]
            share = 1 / (2 * rounds)
            order = (ours, *held, *reversed(held), ours)
            groups.append([(*row, share) for row in order] * rounds)
        elif name not in paired:
            groups.append([(index, endpoint, 1.0)])
    return groups


# --- main ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of (ours, peer, peer, ours) for the rows held to a peer (default 2)",
    )
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
            for group in interleaved(list(selected(args.only, window)), args.rounds):
                seen = {}  # index -> what its clients saw, over its slices
                for slice_number, (index, endpoint, share) in enumerate(group):
                    _, method, *_, who, _ = endpoint
                    before = Purchase.objects.count() if method == "POST" else 0
                    # The server is warm after a row's first slice: a short ramp-up will do.
                    warmup = args.warmup if index not in seen else min(args.warmup, 0.5)
                    latencies, statuses, errors, created = drive(
                        pool,
                        server.port,
                        index,
                        credentials[who],
                        window,
                        warmup,
                        args.duration * share,
                        seed=1000 * slice_number,
                    )
                    added = Purchase.objects.count() - before if method == "POST" else 0
                    row = seen.setdefault(index, [[], {}, 0, 0, 0, 0.0])
                    row[0] += latencies
                    for status, count in statuses.items():
                        row[1][status] = row[1].get(status, 0) + count
                    row[2] += errors
                    row[3] += created
                    row[4] += added
                    row[5] += args.duration * share
                for index, (latencies, statuses, errors, created, added, seconds) in seen.items():
                    name, method, *_, is_read = endpoints(window)[index]
                    latencies.sort()
                    rate = len(latencies) / seconds
                    floor = floor or rate
                    created_check = ""
                    if method == "POST":
                        created_check = f"  purchases added {added}, 201s seen {created}"
                        created_check += " (equal)" if added == created else " (MISMATCH)"
                    rows.append((name, rate, latencies, errors, is_read))
                    print(
                        f"{name:40} {rate:8.1f} req/s"
                        f"  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms"
                        f"  p99 {percentile(latencies, 0.99) * 1000:7.1f} ms  errors {errors}"
                        f"  {rate / floor:6.1%} of floor{created_check}",
                        flush=True,
                    )
                    if errors:
                        print(f"{'':40} statuses: {statuses}", flush=True)
    finally:
        server.kill(signal.SIGTERM)
        cleanup()
    print_targets(rows)


# Targets: (our row, its peer row, the least ratio of our rate to the peer's).
RATE_TARGETS = [
    ("POST /purchases", "POST /purchases as before the audit trail", 0.85),
    ("POST /purchases", "POST /purchases as before the rollups", 0.85),
    ("GET /products/{id}, with a token", "GET /products/{id}, DRF peer, token", 0.90),
]
ALL_TIME_ROWS = ["GET most_valuable_customer, all time", "GET most_popular_product, all time"]
ALL_TIME_P99 = 0.100  # seconds


def print_targets(rows):
    """The targets of the rows that ran, each against its peer of the same run."""
    by_name = {name: (rate, latencies, errors) for name, rate, latencies, errors, _ in rows}
    met = True
    for name in ALL_TIME_ROWS:
        if name in by_name:
            _, latencies, errors = by_name[name]
            p99 = percentile(latencies, 0.99)
            met &= p99 <= ALL_TIME_P99 and errors == 0
            print(
                f"{name}: p99 {p99 * 1000:.1f} ms, errors {errors}"
                f" (target p99 <= {ALL_TIME_P99 * 1000:.0f} ms, 0 errors)"
            )
    for ours, peer, least in RATE_TARGETS:
        if ours in by_name and peer in by_name:
            ratio = by_name[ours][0] / by_name[peer][0]
            met &= ratio >= least
            print(
                f"{ours}: {by_name[ours][0]:.1f} req/s; {peer}: {by_name[peer][0]:.1f} req/s;"
                f" ratio {ratio:.2f} (target >= {least:.2f})"
            )
    errors = sum(row[3] for row in rows)
    met &= errors == 0
    print(f"errors in all runs: {errors}; targets of the rows run: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
