"""Benchmark of the sales analytics against hand-written SQL, on PostgreSQL (not a test).

    .venv/bin/python bench/analytics.py                 # load once (reused later), then time
    .venv/bin/python bench/analytics.py --purchases 10000000 --users 100000 --products 10000
    .venv/bin/python bench/analytics.py --reload        # reload the data
    .venv/bin/python bench/analytics.py --explain       # also print EXPLAIN (ANALYZE, BUFFERS)

It uses its own database (default `postgres://postgres@127.0.0.1:5432/shop_analytics_bench`,
created and migrated if missing), loads `--users` users (1 % then deleted), `--products`
products (10 % re-priced afterwards) and `--purchases` purchases spread over two years
with `INSERT ... SELECT generate_series` (the ORM row by row would take hours), then
rebuilds the sales totals from them (`rebuild_sales_totals`: the load wrote purchases
around the service). Defaults: 100,000 users, 10,000 products, 1,000,000 purchases.

Then, in one run:

- the rebuild, timed against the raw `GROUP BY` over the same purchases that it
  computes (target: within 3x);
- each analytics queryset, and each HTTP endpoint through DRF's APIClient with a staff
  token, against hand-written SQL giving the same answer (asserted), all time (which
  reads the sales totals: hand-written SQL on the same totals) and for the last 30 days
  (an aggregate over the window's purchases): one run, and the median of `--runs` runs
  after a warm-up. The all-time answers are also asserted equal to the hand-written
  `GROUP BY` over all the purchases, whose time is printed for scale. Targets: both
  all-time endpoints at most 30 ms (median, over HTTP); for 30 days, the querysets
  within 1.2x of bare SQL and the endpoints within 1.2x of the same SQL served by a
  plain DRF view through the same stack (bench/urls.py). Endpoints against bare SQL
  are printed too: that ratio is the fixed per-request cost of HTTP, auth and JSON.
"""

import argparse
import functools
import io
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics_sql import (  # noqa: E402
    CUSTOMER_OBJECT_SQL,
    CUSTOMERS_SQL,
    PRODUCT_OBJECT_SQL,
    PRODUCTS_SQL,
    RAW_GROUP_BY_SQL,
    TOTALS_CUSTOMER_OBJECT_SQL,
    TOTALS_CUSTOMERS_SQL,
    TOTALS_PRODUCT_OBJECT_SQL,
    TOTALS_PRODUCTS_SQL,
    WINDOW_SQL,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/shop_analytics_bench"

LOAD_SQL = [
    "TRUNCATE purchases_purchase, products_product, users_user RESTART IDENTITY CASCADE",
    "SELECT setseed(0.42)",
    """
    INSERT INTO users_user (password, is_superuser, email, email_key, first_name, last_name,
                            gender, is_staff, is_active, date_joined)
    SELECT '!', false, 'user' || g || '@bench.example', 'user' || g || '@bench.example',
           'First' || g, 'Last' || g,
           CASE WHEN mod(g, 2) = 0 THEN 'female' ELSE 'male' END, false, true,
           now() - interval '3 years'
    FROM generate_series(1, %(users)s) AS g
    """,
    """
    INSERT INTO products_product (sku, name, description, category, price, metal_type,
                                  stone_type, customizable, created_at, updated_at)
    SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, '', 'category-' || mod(g, 50),
           round((1 + random() * 499)::numeric, 2), '', '', NULL, now(), now()
    FROM generate_series(1, %(products)s) AS g
    """,
    # Popularity is skewed towards low product ids, quantities towards 1, like a real shop.
    """
    INSERT INTO purchases_purchase (user_id, product_id, quantity, unit_price, customer_email,
                                    product_sku, product_name, created_at)
    SELECT s.user_id, p.id, s.quantity, p.price, 'user' || s.user_id || '@bench.example',
           p.sku, p.name, s.created_at
    FROM (
        SELECT 1 + floor(random() * %(users)s)::int AS user_id,
               1 + floor(power(random(), 2) * %(products)s)::int AS product_id,
               1 + floor(power(random(), 3) * 10)::int AS quantity,
               now() - random() * interval '730 days' AS created_at
        FROM generate_series(1, %(purchases)s)
    ) AS s
    JOIN products_product AS p ON p.id = s.product_id
    """,
    # History must not move when prices do: every tenth product is 10 % dearer now.
    "UPDATE products_product SET price = round(price * 1.1, 2) WHERE mod(id, 10) = 0",
    # One customer in a hundred was deleted; their purchases stay, without a user.
    "UPDATE purchases_purchase SET user_id = NULL WHERE mod(user_id, 100) = 0",
    "DELETE FROM users_user WHERE mod(id, 100) = 0",
]


def ensure_database(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


TABLES = "users_user, products_product, purchases_purchase"
TOTALS_TABLES = (
    "purchases_customersales, purchases_productsales, purchases_customermonth,"
    " purchases_dailyrevenue"
)


def vacuum(tables):
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        # The visibility map lets the covering indexes answer with index-only scans.
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def load(sizes):
    """Loads the data with SQL, then rebuilds the sales totals: the load went around the service."""
    from django.core.management import call_command
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in LOAD_SQL:
            cursor.execute(sql, sizes)
    print(f"loaded {sizes} in {time.perf_counter() - started:.1f} s")
    call_command("rebuild_sales_totals")
    vacuum(f"{TABLES}, {TOTALS_TABLES}")


def counts():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM users_user WHERE NOT is_staff),"
            " (SELECT count(*) FROM products_product), (SELECT count(*) FROM purchases_purchase)"
        )
        return cursor.fetchone()


def sql_rows(sql, window, limit):
    from django.db import connection

    params = {"limit": limit, **(window or {})}
    with connection.cursor() as cursor:
        cursor.execute(sql.format(window=WINDOW_SQL if window else ""), params)
        return cursor.fetchall()


def timed_pair(ours, theirs, runs):
    """Both answers, and each side's (first run, median of `runs`) seconds.

    After a warm-up of each, the two alternate run by run, so that a burst of load on
    the machine (shared with other work) or a checkpoint of the server hits both alike.
    """
    answers = (ours(), theirs())
    times = ([], [])
    for run in range(runs):
        # Alternate who goes first too: the second of a pair finds the caches warmer.
        for side in (0, 1) if run % 2 == 0 else (1, 0):
            started = time.perf_counter()
            (ours, theirs)[side]()
            times[side].append(time.perf_counter() - started)
    return answers, [(t[0], statistics.median(t)) for t in times]


def staff_client():
    from django.contrib.auth.models import Group
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from users.models import User

    staff = User.objects.filter(email="bench-staff@bench.example").first()
    if staff is None:
        staff = User.objects.create_user(
            email="bench-staff@bench.example", first_name="Bench", last_name="Staff", is_staff=True
        )
    staff.groups.add(Group.objects.get(name="Owner"))  # a role that reads the analytics
    _, token = AuthToken.objects.create(user=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def http_json(client, path, window, limit=None):
    query = {}
    if window:
        query = {"since": window["since"].isoformat(), "until": window["until"].isoformat()}
    if limit is not None:
        query["limit"] = limit
    response = client.get(f"{path}?{urlencode(query)}" if query else path)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.json()


def raw_group_by():
    """The aggregates the rebuild computes, as bare SELECTs whose rows are fetched."""
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in RAW_GROUP_BY_SQL:
            cursor.execute(sql)
            cursor.fetchall()


def rebuild_against_group_by(runs):
    """Times `rebuild_sales_totals` and the raw GROUP BY, alternating; prints the ratio."""
    from django.core.management import call_command

    def rebuild():
        call_command("rebuild_sales_totals", stdout=io.StringIO())

    _, ((rebuild_first, rebuild_median), (raw_first, raw_median)) = timed_pair(
        rebuild, raw_group_by, runs
    )
    ratio = rebuild_median / raw_median
    print(f"rebuild: median of {runs} after a warm-up, each side alternating")
    for name, first, median in (
        ("rebuild_sales_totals", rebuild_first, rebuild_median),
        ("raw GROUP BY, the four rollups", raw_first, raw_median),
    ):
        print(f"  {name:36} first {first:7.2f} s  median {median:7.2f} s")
    print(f"  rebuild / raw GROUP BY: {ratio:.2f} (target <= 3.00)")
    check_started = time.perf_counter()
    call_command("rebuild_sales_totals", "--check", stdout=io.StringIO())
    print(f"  rebuild_sales_totals --check: no drift, {time.perf_counter() - check_started:.2f} s")
    vacuum(TOTALS_TABLES)  # what autovacuum does after the rebuild's DELETE
    return ratio


def cases(client):
    """(name, ours, hand-written SQL, normaliser of either answer to comparable tuples).

    All time, the hand-written SQL reads the sales totals; for a window, the purchases.
    """
    from purchases import analytics

    def figures(ranked, *names):
        return [(obj.pk, *(getattr(obj, name) for name in names)) for obj in ranked]

    def customers_orm(window, limit):
        ranked = analytics.top_customers(**(window or {}), limit=limit)
        return figures(ranked, "total_spent", "purchase_count")

    def products_orm(window, limit):
        ranked = analytics.top_products(**(window or {}), limit=limit)
        return figures(ranked, "units_sold", "purchase_count")

    def customer_http(window, limit):
        data = http_json(client, "/purchases/analytic/most_valuable_customer", window)
        return [(data["id"], data["email"], Decimal(data["total_spent"]), data["purchase_count"])]

    def product_http(window, limit):
        data = http_json(client, "/purchases/analytic/most_popular_product", window)
        return [(data["id"], data["sku"], data["units_sold"], data["purchase_count"])]

    def top_customers_http(window, limit):
        data = http_json(client, "/purchases/analytic/top_customers", window, limit)
        return [(d["id"], Decimal(d["total_spent"]), d["purchase_count"]) for d in data]

    def top_products_http(window, limit):
        data = http_json(client, "/purchases/analytic/top_products", window, limit)
        return [(d["id"], d["units_sold"], d["purchase_count"]) for d in data]

    def same_stack(path, shape):
        # The hand-written SQL served by a plain DRF view with the same authentication,
        # middleware and JSON rendering (bench/urls.py): what is left is the ORM's cost.
        def run(window, limit):
            data = http_json(client, path, window, limit if limit > 1 else None)
            return [shape(d) for d in (data if isinstance(data, list) else [data])]

        return run

    def customer_shape(d):
        return (d["id"], d["email"], Decimal(d["total_spent"]), d["purchase_count"])

    def product_shape(d):
        return (d["id"], d["sku"], d["units_sold"], d["purchase_count"])

    def customer_row_shape(d):
        return (d["id"], Decimal(d["total_spent"]), d["purchase_count"])

    def product_row_shape(d):
        return (d["id"], d["units_sold"], d["purchase_count"])

    def sql(statement, all_time_statement, pick):
        def run(window, limit):
            rows = sql_rows(statement if window else all_time_statement, window, limit)
            return [tuple(row[i] for i in pick) for row in rows]

        return run

    customers_sql = functools.partial(sql, CUSTOMERS_SQL, TOTALS_CUSTOMERS_SQL)
    products_sql = functools.partial(sql, PRODUCTS_SQL, TOTALS_PRODUCTS_SQL)
    customer_objects_sql = functools.partial(sql, CUSTOMER_OBJECT_SQL, TOTALS_CUSTOMER_OBJECT_SQL)
    product_objects_sql = functools.partial(sql, PRODUCT_OBJECT_SQL, TOTALS_PRODUCT_OBJECT_SQL)
    return [
        ("top_customers queryset, limit 1", customers_orm, customers_sql((0, 1, 2)), 1),
        ("top_products queryset, limit 1", products_orm, products_sql((0, 1, 2)), 1),
        ("top_customers queryset, limit 10", customers_orm, customers_sql((0, 1, 2)), 10),
        ("top_products queryset, limit 10", products_orm, products_sql((0, 1, 2)), 10),
        ("GET most_valuable_customer", customer_http, customer_objects_sql((0, 3, 6, 7)), 1),
        ("GET most_popular_product", product_http, product_objects_sql((0, 1, 8, 9)), 1),
        ("GET top_customers?limit=10", top_customers_http, customer_objects_sql((0, 6, 7)), 10),
        ("GET top_products?limit=10", top_products_http, product_objects_sql((0, 8, 9)), 10),
        (
            "GET most_valuable_customer, same stack",
            customer_http,
            same_stack("/bench/sql/customers", customer_shape),
            1,
        ),
        (
            "GET most_popular_product, same stack",
            product_http,
            same_stack("/bench/sql/products", product_shape),
            1,
        ),
        (
            "GET top_customers?limit=10, same stack",
            top_customers_http,
            same_stack("/bench/sql/customers", customer_row_shape),
            10,
        ),
        (
            "GET top_products?limit=10, same stack",
            top_products_http,
            same_stack("/bench/sql/products", product_row_shape),
            10,
        ),
    ]


def is_targeted(name):
    """Querysets are held to bare SQL; endpoints to the same SQL served the same way."""
    return not name.startswith("GET") or name.endswith("same stack")


def all_time_against_group_by():
    """Asserts the all-time answers (the totals) equal the GROUP BY over every purchase.

    Returns the hand-written GROUP BY's time per ranking (one run each): what every
    all-time request cost before the totals, on the best covering index.
    """
    from purchases import analytics

    checks = [
        ("top_customers", analytics.top_customers, CUSTOMERS_SQL, "total_spent"),
        ("top_products", analytics.top_products, PRODUCTS_SQL, "units_sold"),
    ]
    seconds = {}
    for name, ranking, statement, figure in checks:
        ours = [(r.pk, getattr(r, figure), r.purchase_count) for r in ranking(limit=10)]
        started = time.perf_counter()
        theirs = [tuple(row) for row in sql_rows(statement, None, 10)]
        seconds[name] = time.perf_counter() - started
        assert ours == theirs, (name, ours, theirs)
    return seconds


def explain(window_30):
    from purchases import analytics
    from purchases.models import Purchase

    history_user = (
        Purchase.objects.exclude(user=None).order_by("user_id").values_list("user_id", flat=True)[0]
    )
    queries = [
        (
            "top_customers, all time (the totals joined to the users)",
            analytics.customers_by_total_spent()[:1],
        ),
        ("top_customers, limit 10, all time", analytics.customers_by_total_spent()[:10]),
        (
            "top_products, all time (the totals joined to the products)",
            analytics.products_by_units_sold()[:1],
        ),
        (
            f"history page of user {history_user}",
            Purchase.objects.filter(user_id=history_user)
            .select_related("product")
            .newest_first()[:100],
        ),
        ("staff list, first page", Purchase.objects.newest_first()[:100]),
    ]
    for name, qs in queries:
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS): {name}")
        print(qs.explain(analyze=True, buffers=True))
    from django.db import connection

    for name, key in (("top_customers", "user_id"), ("top_products", "product_id")):
        sql, params, _ = analytics.window_ranking_sql(key, **window_30)
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS): {name}, 30 days (purchases and refunds)")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print("\n".join(row[0] for row in cursor.fetchall()))

    for name, sql in zip(("customers", "products"), RAW_GROUP_BY_SQL, strict=True):
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS): the rebuild's GROUP BY, {name}")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild-runs", type=int, default=3, help="timed rebuilds (median)")
    parser.add_argument("--reload", action="store_true", help="reload even if the sizes match")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # routes the baselines too
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    ensure_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from purchases.models import Purchase

    call_command("migrate", verbosity=0)
    sizes = {"users": args.users, "products": args.products, "purchases": args.purchases}
    have = counts()
    # A customer deleted by the load takes no purchase with them, so purchases match exactly.
    expected_users = args.users - args.users // 100
    if args.reload or have != (expected_users, args.products, args.purchases):
        load(sizes)
    print(f"data: {counts()[0]:,} users, {counts()[1]:,} products, {counts()[2]:,} purchases")
    rebuild_ratio = rebuild_against_group_by(args.rebuild_runs)

    latest = Purchase.objects.order_by("-created_at").values_list("created_at", flat=True)[0]
    until = latest + timedelta(microseconds=1)
    window_30 = {"since": until - timedelta(days=30), "until": until}
    client = staff_client()
    group_by = all_time_against_group_by()

    print(f"runs: 1 timed run, and the median of {args.runs} (after one warm-up run)")
    header = f"{'case':40} {'window':8} {'ours 1st':>9} {'sql 1st':>9} {'ratio':>6}"
    header += f" {'ours med':>9} {'sql med':>9} {'ratio':>6} {'extra':>7}"
    print(header)
    worst = {"all": 0.0, "30 days": 0.0}
    worst_bare = 0.0
    all_time_endpoints = {}
    for label, window in (("all", None), ("30 days", window_30)):
        for name, ours, theirs, limit in cases(client):
            (answer, expected), timings = timed_pair(
                functools.partial(ours, window, limit),
                functools.partial(theirs, window, limit),
                args.runs,
            )
            (ours_first, ours_median), (sql_first, sql_median) = timings
            assert answer == expected, (name, label, answer, expected)
            ratio_first, ratio_median = ours_first / sql_first, ours_median / sql_median
            if is_targeted(name):
                worst[label] = max(worst[label], ratio_median)
            else:
                worst_bare = max(worst_bare, ratio_median)
            if label == "all" and name in (
                "GET most_valuable_customer",
                "GET most_popular_product",
            ):
                all_time_endpoints[name.removeprefix("GET ")] = ours_median
            print(
                f"{name:40} {label:8} {ours_first * 1000:8.1f}ms {sql_first * 1000:8.1f}ms"
                f" {ratio_first:6.2f} {ours_median * 1000:8.1f}ms {sql_median * 1000:8.1f}ms"
                f" {ratio_median:6.2f} {(ours_median - sql_median) * 1000:+6.1f}ms"
            )
    slowest = max(all_time_endpoints.values())
    print(
        "all-time endpoints, median over HTTP: "
        + ", ".join(f"{name} {t * 1000:.1f} ms" for name, t in all_time_endpoints.items())
        + " (target <= 30 ms)"
    )
    print(
        "all time before the totals, hand-written GROUP BY over every purchase (same answers): "
        + ", ".join(f"{name} {t * 1000:.1f} ms" for name, t in group_by.items())
    )
    print(
        f"worst median ratio, 30 days, querysets and endpoints vs the same SQL behind the same"
        f" stack: {worst['30 days']:.2f} (target <= 1.20)"
    )
    print(
        f"worst median ratio, all time, vs hand-written SQL on the same totals: {worst['all']:.2f}"
        " (informational: a few milliseconds either way)"
    )
    print(
        f"worst median ratio, endpoints vs bare SQL on a cursor: {worst_bare:.2f}"
        " (the per-request cost of HTTP, auth and JSON; informational)"
    )
    met = slowest <= 0.030 and worst["30 days"] <= 1.20 and rebuild_ratio <= 3.0
    print(f"targets: {'met' if met else 'NOT met'}")
    print("extra = ours - sql, medians")
    print(f"30-day window: [{window_30['since'].isoformat()}, {window_30['until'].isoformat()})")
    print(f"now: {timezone.now().isoformat()}")
    if args.explain:
        explain(window_30)


if __name__ == "__main__":
    main()
