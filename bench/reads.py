"""Benchmark of the everyday reads at the size of a large shop, over HTTP (not a test).

    .venv/bin/python bench/reads.py                       # load once (kept), then time
    .venv/bin/python bench/reads.py --purchases 1000000 --products 100000 --users 100000
    .venv/bin/python bench/reads.py --reload              # load again
    .venv/bin/python bench/reads.py --only admin          # the rows whose name holds "admin"

Defaults: 10,000,000 purchases over two years, 1,000,000 products and 1,000,000
customers in `postgres://postgres@127.0.0.1:5433/shop_reads_bench` (`--database-url`;
created and migrated if missing). Keep such a database out of a cluster that is backed
up or replicated whole: the full shape is several GB.

The load is set-based SQL into the project's own tables (`INSERT ... SELECT
generate_series`), with their secondary indexes dropped meanwhile and built again after
(what a bulk load does), then `rebuild_sales_totals` (the load went around the service)
and `VACUUM ANALYZE`. It is kept between runs: a run whose sizes match reuses it.

Then gunicorn serves the project with production settings (`DJANGO_DEBUG=0`) on
loopback, and each read of the table below is requested `--runs` times after a
warm-up, as staff (a token for the API, a session for the admin); its median is
printed next to its target. A read that must answer something (a status, a row count,
a header) is checked on every request.
"""

import argparse
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5433/shop_reads_bench"
STAFF_EMAIL = "bench-staff@bench.example"
STAFF_PASSWORD = "bench-staff-password-not-secret"  # a throwaway bench database's

TABLES = ("users_user", "products_product", "purchases_purchase")
WORDS = (
    "Kettle", "Ring", "Necklace", "Bracelet", "Teapot", "Brooch", "Pendant", "Earrings",
    "Anklet", "Cufflinks", "Locket", "Bangle", "Tiara", "Charm", "Chain", "Watch",
    "Hairpin", "Signet", "Choker", "Circlet",
)  # fmt: skip
METALS = ("gold", "silver", "platinum", "copper", "steel", "brass", "titanium", "bronze")
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
)  # fmt: skip


def sql_array(words):
    return "ARRAY[" + ", ".join(f"'{word}'" for word in words) + "]"


LOAD_SQL = [
    "TRUNCATE purchases_purchase, purchases_customersales, purchases_productsales,"
    " products_product, users_user RESTART IDENTITY CASCADE",
    "SELECT setseed(0.23)",
    f"""
    INSERT INTO users_user (password, is_superuser, email, email_key, first_name, last_name,
                            gender, is_staff, is_active, date_joined)
    SELECT '!', false, 'c' || g || '@example.com', 'c' || g || '@example.com',
           'Customer' || g, ({sql_array(SURNAMES)})[1 + mod(g, {len(SURNAMES)})],
           CASE WHEN mod(g, 2) = 0 THEN 'female' ELSE 'male' END, false, true,
           timestamptz '2020-01-01' + (g::float8 / %(users)s) * interval '5 years'
    FROM generate_series(1, %(users)s) AS g
    """,
    f"""
    INSERT INTO products_product (sku, name, description, category, price, metal_type,
                                  stone_type, customizable, created_at, updated_at)
    SELECT 'SKU-' || lpad(g::text, 7, '0'),
           ({sql_array(WORDS)})[1 + mod(g, {len(WORDS)})] || ' ' || g,
           'A ' || ({sql_array(METALS)})[1 + mod(g / 7, {len(METALS)})] || ' '
               || lower(({sql_array(WORDS)})[1 + mod(g / 3, {len(WORDS)})])
               || ' from our workshop, model ' || to_hex(g::bigint * 7919),
           'cat-' || mod(g, 100), round((1 + random() * 499)::numeric, 2),
           ({sql_array(METALS)})[1 + mod(g / 7, {len(METALS)})], '', NULL, now(), now()
    FROM generate_series(1, %(products)s) AS g
    """,
    # Popularity skewed towards low product ids, quantities towards 1; two years, uniform.
    """
    INSERT INTO purchases_purchase (user_id, product_id, quantity, unit_price, customer_email,
                                    product_sku, product_name, created_at)
    SELECT s.user_id, p.id, s.quantity, p.price, 'c' || s.user_id || '@example.com',
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


def secondary_indexes(cursor):
    """(name, definition) of the tables' indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        """,
        [list(TABLES)],
    )
    return cursor.fetchall()


def load(sizes):
    from django.core.management import call_command
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # Django's foreign keys are deferred: checked now, so that indexes can be built after.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        indexes = secondary_indexes(cursor)
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for sql in LOAD_SQL:
            step = time.perf_counter()
            cursor.execute(sql, sizes)
            print(f"  {' '.join(sql.split()[:3])} {time.perf_counter() - step:.1f} s", flush=True)
        for _, definition in indexes:
            step = time.perf_counter()
            cursor.execute(definition)
            print(f"  {definition[:90]} {time.perf_counter() - step:.1f} s", flush=True)
    print(f"loaded {sizes} in {time.perf_counter() - started:.1f} s", flush=True)
    call_command("rebuild_sales_totals")
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM (ANALYZE)")
    print(f"rebuilt the totals and vacuumed: {time.perf_counter() - started:.1f} s", flush=True)


def loaded_sizes():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM users_user WHERE NOT is_staff),"
            " (SELECT count(*) FROM products_product), (SELECT count(*) FROM purchases_purchase)"
        )
        users, products, purchases = cursor.fetchone()
    return {"users": users, "products": products, "purchases": purchases}


def staff_credentials():
    from knox.models import AuthToken

    from users.models import User

    staff = User.objects.filter(email=STAFF_EMAIL).first()
    if staff is None:
        staff = User.objects.create_user(
            email=STAFF_EMAIL, first_name="Bench", last_name="Staff", is_staff=True
        )
        staff.is_superuser = True
    staff.set_password(STAFF_PASSWORD)
    staff.save()
    _, token = AuthToken.objects.create(user=staff)
    return token


def admin_session():
    """A requests session signed in to the admin: a session row made here for the staff
    member (password and second factor), sent as a plain cookie (production cookies are
    `Secure`, and this is HTTP)."""
    import requests
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from users.models import User

    staff = User.objects.get(email=STAFF_EMAIL)
    store = SessionStore()
    store[SESSION_KEY] = str(staff.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    # Staff pass a second factor after their password: an authenticator app of the bench
    # staff member's, recorded in the session as django-otp records a code given.
    app, _ = TOTPDevice.objects.get_or_create(
        user=staff, name="bench", defaults={"confirmed": True}
    )
    store[DEVICE_ID_SESSION_KEY] = app.persistent_id
    store.create()
    session = requests.Session()
    session.headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={store.session_key}"
    return session


def links(response):
    """rel -> URL of an RFC 8288 Link header."""
    found = {}
    for part in response.headers.get("Link", "").split(","):
        if ";" in part:
            url, rel = part.split(";", 1)
            found[rel.strip().removeprefix('rel="').rstrip('"')] = url.strip().strip("<>")
    return found


def reads(sizes):
    """(name, how to request it, target ms): each request answers a response to check."""
    now = datetime.now(UTC)
    day = (now - timedelta(days=100)).date()
    month_ago = (now - timedelta(days=30)).isoformat()
    year_ago = (now - timedelta(days=365)).isoformat()
    middle = sizes["purchases"] // 2 // 100
    some_user = max(1, sizes["users"] * 4242 // 1_000_000)
    rare_sku = f"{max(1, sizes['products'] * 42421 // 100_000):07d}"[1:]
    year_from = (now - timedelta(days=364)).date().isoformat()
    today = now.date().isoformat()

    def api(path, target, status=200, check=None):
        return ("api", path, target, status, check)

    def admin(path, target):
        return ("admin", path, target, 200, is_changelist if "/sales/" not in path else None)

    def is_changelist(response):
        assert 'id="changelist"' in response.text, "not the change list (signed out?)"

    def has_rows(response):
        assert response.json(), "an empty list"

    def follow(rel):
        return ("follow", rel)

    window = lambda since: urlencode({"since": since, "until": now.isoformat()})  # noqa: E731
    return [
        ("floor: GET / (the API index, no query of its own)", api("/", None), None),
        ("GET /purchases (first page)", api("/purchases", 100, check=has_rows), 100),
        ("GET /purchases?page=2", api("/purchases?page=2", 100, check=has_rows), 100),
        (
            f"GET /purchases?page={middle} (half way)",
            api(f"/purchases?page={middle}", 100, 400),
            100,
        ),
        ("GET /purchases?page=last", api("/purchases?page=last", 100, check=has_rows), 100),
        ("Link rel=next of the first page", follow("next"), 100),
        ("Link rel=last of the first page", follow("last"), 100),
        ("Link rel=prev of the last page", follow("prev-of-last"), 100),
        ("cursor half way (next of the middle row)", follow("middle"), 100),
        ("GET /purchases?user_id=N (a history)", api(f"/purchases?user_id={some_user}", 100), 100),
        ("GET /products (first page)", api("/products", 100, check=has_rows), 100),
        ("GET /products?page=last", api("/products?page=last", 100, check=has_rows), 100),
        ("GET /users (first page)", api("/users", 100, check=has_rows), 100),
        ("GET /users?page=last", api("/users?page=last", 100, check=has_rows), 100),
        ("GET /products?search=kettle", api("/products?search=kettle", 100, check=has_rows), 100),
        (
            f"GET /products?search={rare_sku} (rare SKU fragment)",
            api(f"/products?search={rare_sku}", 100, check=has_rows),
            100,
        ),
        (
            "GET /products?search=workshop (every row)",
            api("/products?search=workshop", 100, check=has_rows),
            100,
        ),
        ("GET /products?category=cat-7", api("/products?category=cat-7", 50, check=has_rows), 50),
        (
            f"GET /users?search=Customer{some_user}",
            api(f"/users?search=Customer{some_user}", 100, check=has_rows),
            100,
        ),
        (
            "GET /users?search=mith (part of a name)",
            api("/users?search=mith", 100, check=has_rows),
            100,
        ),
        (
            f"GET /users?email=c{some_user}@example.com",
            api(f"/users?email=c{some_user}@example.com", 50, check=has_rows),
            50,
        ),
        (
            "most valuable customer, all time (net of refunds)",
            api("/purchases/analytic/most_valuable_customer", 30),
            30,
        ),
        (
            "most popular product, all time (net of returns)",
            api("/purchases/analytic/most_popular_product", 30),
            30,
        ),
        (
            "most valuable customer, 30 days",
            api(f"/purchases/analytic/most_valuable_customer?{window(month_ago)}", 300),
            300,
        ),
        (
            "most popular product, 30 days",
            api(f"/purchases/analytic/most_popular_product?{window(month_ago)}", 300),
            300,
        ),
        (
            "most valuable customer, 365 days",
            api(f"/purchases/analytic/most_valuable_customer?{window(year_ago)}", None),
            None,
        ),
        (
            "most popular product, 365 days",
            api(f"/purchases/analytic/most_popular_product?{window(year_ago)}", None),
            None,
        ),
        ("admin purchase list", admin("/admin/purchases/purchase/", 300), 300),
        (
            "admin purchase list, search a customer's email",
            admin(f"/admin/purchases/purchase/?q=c{some_user}@example.com", 300),
            300,
        ),
        (
            "admin purchase list, one day",
            admin(
                f"/admin/purchases/purchase/?created_at__day={day.day}"
                f"&created_at__month={day.month}&created_at__year={day.year}",
                300,
            ),
            300,
        ),
        ("admin product list", admin("/admin/products/product/", 300), 300),
        ("admin product list, search kettle", admin("/admin/products/product/?q=kettle", 300), 300),
        (
            "admin product list, category cat-7",
            admin("/admin/products/product/?category=cat-7", 300),
            300,
        ),
        ("admin customer list", admin("/admin/users/user/", 300), 300),
        (
            f"admin customer list, search Customer{some_user}",
            admin(f"/admin/users/user/?q=Customer{some_user}", 300),
            300,
        ),
        (
            "admin sales page, 30 days",
            admin("/admin/purchases/purchase/sales/?period=30", 1000),
            1000,
        ),
        (
            "admin sales page, a year",
            admin(f"/admin/purchases/purchase/sales/?from={year_from}&to={today}", 3000),
            3000,
        ),
    ]


def time_reads(base, token, session, rows, runs):
    import requests

    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    first = api.get(f"{base}/purchases")
    assert first.status_code == 200, first.text[:300]
    last = api.get(links(first)["last"])
    middle_cursor = middle_link(api, base)

    def target_of(spec):
        if spec[0] == "follow":
            rel = spec[1]
            if rel == "prev-of-last":
                return api, links(last)["prev"], 200
            if rel == "middle":
                return api, middle_cursor, 200
            return api, links(first)[rel], 200
        kind, path, _, status, _ = spec
        return (api if kind == "api" else session), f"{base}{path}", status

    print(f"{'read':58} {'median':>10} {'target':>8}")
    failed = 0
    for name, spec, target in rows:
        client, url, status = target_of(spec)
        check = spec[4] if spec[0] in ("api", "admin") else None
        times = []
        for run in range(runs + 1):
            started = time.perf_counter()
            response = client.get(url, allow_redirects=False)
            elapsed = time.perf_counter() - started
            assert response.status_code == status, (name, response.status_code, response.text[:300])
            if check:
                check(response)
            if run:  # the first is the warm-up
                times.append(elapsed)
        median = statistics.median(times) * 1000
        verdict = "" if target is None else ("ok" if median <= target else "MISSED")
        failed += verdict == "MISSED"
        shown = "-" if target is None else f"{target} ms"
        print(f"{name:58} {median:7.1f} ms {shown:>8} {verdict}", flush=True)
    return failed


def middle_link(api, base):
    """The `next` link of a page half way down the purchases, reached by the cursor it names."""
    from django.db import connection

    from shop.pagination import KeysetCursor

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at, id FROM purchases_purchase ORDER BY created_at DESC, id DESC"
            " OFFSET (SELECT count(*) / 2 FROM purchases_purchase) LIMIT 1"
        )
        created_at, pk = cursor.fetchone()
    cursor_text = KeysetCursor(after=True, values=(created_at.isoformat(), pk)).encode()
    return f"{base}/purchases?{urlencode({'cursor': cursor_text})}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()

    import os

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DATABASE_REPLICA_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    # The server's key too: the admin session made here is signed with it.
    os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    ensure_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sizes = {"users": args.users, "products": args.products, "purchases": args.purchases}
    if args.reload or loaded_sizes() != sizes:
        load(sizes)
    if args.load_only:
        return
    token = staff_credentials()

    from end_to_end.servers import Server, production_env

    # The admin's pages name their static files through the manifest production builds.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=production_env(args.database_url),
        check=True,
    )

    rows = [row for row in reads(sizes) if args.only in row[0]]
    session = admin_session()
    server = Server(
        args.database_url,
        workers=2,
        threads=1,
        env={"DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]},
    )
    try:
        print(
            f"{sizes['purchases']:,} purchases, {sizes['products']:,} products, "
            f"{sizes['users']:,} customers; gunicorn, DJANGO_DEBUG=0; median of {args.runs}"
        )
        failed = time_reads(server.url, token, session, rows, args.runs)
    finally:
        server.kill()
    print(
        f"{len(rows) - failed} of {len(rows)} reads within target"
        if failed
        else "every read within target"
    )


if __name__ == "__main__":
    main()
