"""Benchmark of the purchases CSV export against PostgreSQL's own COPY (not a test).

    .venv/bin/python bench/export.py                    # 1,000,000 purchases
    .venv/bin/python bench/export.py --purchases 200000
    .venv/bin/python bench/export.py --keep             # keep the database for another run

It uses its own database (default `postgres://postgres@127.0.0.1:5432/shop_export_bench`,
created and migrated if missing, DROPPED at the end unless `--keep`), loads users and
products through the ORM and purchases with `INSERT ... SELECT generate_series` (as
bench/analytics.py does), then downloads `GET /purchases?format=csv` as staff from
gunicorn started with the project's production settings and `gunicorn.conf.py`
(`end_to_end.servers.Server`, one worker, one thread: the process measured is the one
serving). It prints the rows
per second and the serving worker's peak resident memory (`VmHWM`; target <= 150 MB),
then the same rows in the same order through `COPY (SELECT ...) TO STDOUT WITH CSV`
read by psycopg, which is what `psql \\copy` does, and the ratio of the two times (after
one untimed COPY, so that both read a warm cache).
"""

import argparse
import http.client
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from end_to_end.servers import Server  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/shop_export_bench"
TARGET_RSS_MB = 150

# Purchases are made in the database (seconds for a million); users and products, far
# fewer, through the ORM in between, so that columns the models add later get defaults.
TRUNCATE_SQL = "TRUNCATE purchases_purchase, products_product, users_user RESTART IDENTITY CASCADE"
PURCHASES_SQL = [
    "SELECT setseed(0.42)",
    """
    INSERT INTO purchases_purchase (user_id, product_id, quantity, unit_price, customer_email,
                                    product_sku, product_name, created_at)
    SELECT u.id, p.id, s.quantity, p.price, u.email, p.sku, p.name, s.created_at
    FROM (
        SELECT 1 + floor(random() * %(users)s)::int AS user_n,
               1 + floor(power(random(), 2) * %(products)s)::int AS product_n,
               1 + floor(power(random(), 3) * 10)::int AS quantity,
               now() - random() * interval '730 days' AS created_at
        FROM generate_series(1, %(purchases)s)
    ) AS s
    JOIN users_user AS u ON u.id = s.user_n  -- ids from 1, after RESTART IDENTITY
    JOIN products_product AS p ON p.id = s.product_n
    """,
]

# The export's rows, columns and order (`purchases.exports.PURCHASE_COLUMNS`, newest first).
COPY_SQL = """
    COPY (
        SELECT id, user_id, product_id, quantity, unit_price, unit_price * quantity AS total,
               created_at, customer_email, product_sku, product_name
        FROM purchases_purchase
        ORDER BY created_at DESC, id DESC
    ) TO STDOUT WITH (FORMAT csv, HEADER)
"""


def admin_url(url):
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def database_name(url):
    return urlsplit(url).path.lstrip("/")


def ensure_database(url):
    import psycopg

    name = database_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def drop_database(url):
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    print(f"dropped database {database_name(url)}")


def load(sizes):
    import random
    from decimal import Decimal

    from django.db import connection, transaction

    from products.models import Product
    from users.models import User

    started = time.perf_counter()
    rng = random.Random(42)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(TRUNCATE_SQL)
        User.objects.bulk_create(
            (
                User(
                    email=f"user{n}@bench.example",
                    email_key=f"user{n}@bench.example",
                    first_name=f"First{n}",
                    last_name=f"Last{n}",
                    gender="female" if n % 2 == 0 else "male",
                    password="!",
                )
                for n in range(1, sizes["users"] + 1)
            ),
            batch_size=5000,
        )
        # Some names a spreadsheet would take for formulas: the export neutralises them.
        Product.objects.bulk_create(
            (
                Product(
                    sku=f"SKU-{n:06d}",
                    name=f"=Product {n}" if n % 100 == 0 else f'Product, "{n}"',
                    category=f"category-{n % 50}",
                    price=Decimal(rng.randrange(100, 50_000)) / 100,
                )
                for n in range(1, sizes["products"] + 1)
            ),
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            for sql in PURCHASES_SQL:
                cursor.execute(sql, sizes)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) users_user, products_product, purchases_purchase")
    print(f"loaded {sizes} in {time.perf_counter() - started:.1f} s")


def purchase_count():
    from purchases.models import Purchase

    return Purchase.objects.count()


def staff_token():
    from django.contrib.auth.models import Group
    from knox.models import AuthToken

    from users.models import User

    staff, _ = User.objects.get_or_create(
        email="bench-staff@bench.example",
        defaults={"first_name": "Bench", "last_name": "Staff", "is_staff": True},
    )
    staff.groups.add(Group.objects.get(name="Owner"))  # a role that reads every export
    return AuthToken.objects.create(user=staff)[1]


def worker_pid(master_pid, timeout=10):
    """The pid of the gunicorn worker of master `master_pid` (one worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid:
                return int(stat.parent.name)
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker found")


def memory_kb(pid, field):
    """`VmRSS` (resident now) or `VmHWM` (peak resident) of process `pid`, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def download(server, token, path):
    """GETs `path` and reads the body in 64 KiB reads: (seconds, bytes, lines, first line)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = connection.getresponse()
    assert response.status == 200, (response.status, response.read(500))
    assert response.getheader("Content-Type") == "text/csv; charset=utf-8"
    size = lines = 0
    first = b""
    while chunk := response.read(65536):
        if not first:
            first = chunk.split(b"\r\n", 1)[0]
        size += len(chunk)
        lines += chunk.count(b"\n")  # no cell of this data holds a line break
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, size, lines, first.decode()


def copy_baseline(url):
    """The same rows through `COPY ... TO STDOUT` read by psycopg: (seconds, bytes, lines)."""
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        size = lines = 0
        with cursor.copy(COPY_SQL) as copy:
            for chunk in copy:
                size += len(chunk)
                lines += bytes(chunk).count(b"\n")
        return time.perf_counter() - started, size, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_EXPORT_URL", DEFAULT_URL))
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    ensure_database(args.database_url)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.database_url)


def run(args):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if purchase_count() != args.purchases:
        load({"users": args.users, "products": args.products, "purchases": args.purchases})
    rows = purchase_count()
    token = staff_token()
    print(f"data: {rows:,} purchases")
    # One untimed pass first, so that both sides read the table from a warm cache.
    copy_baseline(args.database_url)

    server = Server(args.database_url, workers=1, threads=1)
    try:
        worker = worker_pid(server.process.pid)
        before = memory_kb(worker, "VmRSS")
        samples = []
        done = threading.Event()

        def sample():  # what the worker holds while it streams, every 20 ms
            while not done.wait(0.02):
                samples.append(memory_kb(worker, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        seconds, size, lines, header = download(server, token, "/purchases?format=csv")
        done.set()
        sampler.join()
        peak = memory_kb(worker, "VmHWM")
    finally:
        server.kill()

    assert lines == rows + 1, (lines, rows)  # the header and every purchase
    print(f"header: {header}")
    print(
        f"GET /purchases?format=csv   {rows:,} rows  {size / 2**20:6.1f} MiB  {seconds:6.2f} s"
        f"  {rows / seconds:9,.0f} rows/s"
    )
    streaming = max(samples, default=before)
    print(
        f"serving worker RSS: {before / 1024:.1f} MB before, {streaming / 1024:.1f} MB at most"
        f" while streaming (sampled), peak {peak / 1024:.1f} MB (VmHWM; target <="
        f" {TARGET_RSS_MB} MB) -> {'ok' if peak / 1024 <= TARGET_RSS_MB else 'OVER'}"
    )

    copy_seconds, copy_size, copy_lines = copy_baseline(args.database_url)
    assert copy_lines == rows + 1, (copy_lines, rows)
    print(
        f"COPY (SELECT ...) TO STDOUT {rows:,} rows  {copy_size / 2**20:6.1f} MiB"
        f"  {copy_seconds:6.2f} s  {rows / copy_seconds:9,.0f} rows/s"
    )
    print(f"ratio: the endpoint takes {seconds / copy_seconds:.2f}x the time of COPY")


if __name__ == "__main__":
    main()
