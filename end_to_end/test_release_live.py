"""PostgreSQL only: deploy/release.py rolls two web instances behind nginx, all from deploy/.

Two gunicorn instances started from `shop-web@.service`, nginx from `shop-nginx.service`
with the TLS configuration of deploy/nginx/, production settings (`DJANGO_DEBUG=0`, the
HTTPS redirect on), and the release run as an operator runs it, its `--restart` being
the units' restart (`end_to_end/units.py`, systemd's stand-in):

- under a load of `POST /purchases` over HTTPS, each with an `Idempotency-Key` and retried
  with it on a connection error as a client would: no request fails, and every
  acknowledged purchase is there, once;
- from the schema before the sales totals (purchases 0001), the email keys (users 0001)
  and the exact idempotent answers (shop 0002), with old code writing purchases,
  accounts and Idempotency-Key rows as it does, straight into their tables, during the
  migration and until its instances are restarted: none of its writes fails; the
  release finds the totals drifting and rebuilds them (`rebuild_sales_totals --check`
  is clean afterwards), gives its accounts their email keys and seals its keys.
"""

import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection

from end_to_end.conftest import database_url, token_for, unit_environment
from end_to_end.servers import DEPLOY, ROOT, free_port, load_nginx_renderer, nginx_binary
from products.models import Product
from purchases import totals
from purchases.models import Purchase
from purchases.services import create_purchase
from shop.models import IdempotencyKey
from shop.tests import previous_release
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 3
PAUSE = 0.01  # seconds between a client's purchases: load, not a benchmark
PRODUCTION = {
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "DJANGO_NUM_PROXIES": "1",
}
UNITS = Path(__file__).with_name("units.py")


class Site:
    """Two web instances and nginx, started from their units; `release()` runs the script."""

    def __init__(self, systemd, certificate):
        self.systemd = systemd
        self.env = unit_environment(systemd, **PRODUCTION)
        self.ports = [free_port(), free_port()]
        started = []
        threads = [
            threading.Thread(target=lambda p=port: started.append(systemd.start(f"shop-web@{p}")))
            for port in self.ports
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        assert len(started) == 2, [systemd.service(f"shop-web@{p}").log() for p in self.ports]
        self.config = Path(systemd.mapped("/etc/shop/nginx.conf"))
        self.listen, self.tls_port = free_port(), free_port()
        cert, key = certificate
        load_nginx_renderer().main(
            [
                *("--listen", f"127.0.0.1:{self.listen}"),
                *("--tls-listen", f"127.0.0.1:{self.tls_port}", "--tls-cert", str(cert)),
                *("--tls-key", str(key), "--prefix", systemd.mapped("/var/lib/shop-nginx")),
                *("--upstream", f"127.0.0.1:{self.ports[0]}"),
                *("--upstream", f"127.0.0.1:{self.ports[1]}", "--output", str(self.config)),
            ]
        )
        systemd.start("shop-nginx")
        self.context = ssl.create_default_context(cafile=str(cert))

    def pids(self):
        return [self.systemd.service(f"shop-web@{port}").pid() for port in self.ports]

    def release(self, *options):
        """Runs deploy/release.py as an operator would: (exit status, its output)."""
        restart = (
            f"{sys.executable} {UNITS} --state {self.systemd.state_dir} restart shop-web@{{port}}"
        )
        done = subprocess.run(
            [
                sys.executable,
                str(DEPLOY / "release.py"),
                *("--release", str(ROOT), "--current", self.systemd.mapped("/srv/shop/current")),
                *("--env-file", self.systemd.mapped("/etc/shop/shop.env")),
                *("--python", sys.executable, "--nginx", nginx_binary()),
                *("--nginx-conf", str(self.config), "--restart", restart),
                *options,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return done.returncode, done.stdout + done.stderr

    def buy(self, token, body, key):
        """One POST /purchases over HTTPS: (status or None on a connection error, body)."""
        headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
        }
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.tls_port, timeout=30, context=self.context
        )
        try:
            connection.request("POST", "/purchases", json.dumps(body), headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError):
            return None, None
        finally:
            connection.close()


@pytest.fixture
def site(postgres_only, systemd, tls_certificate):
    if nginx_binary() is None:
        pytest.skip("live test: no nginx (apt-get install nginx-light)")
    return Site(systemd, tls_certificate)


def test_a_rolling_release_under_purchase_load_fails_no_request_and_loses_no_purchase(
    site, make_user
):
    products = [
        Product.objects.create(sku=f"ROLL-{n}", name=f"Roll {n}", price="3.00") for n in range(3)
    ]
    customers = [make_user() for _ in range(CLIENTS)]
    tokens = [token_for(customer) for customer in customers]
    before = site.pids()
    attempts, answers, acknowledged, lock = Counter(), Counter(), {}, threading.Lock()
    done = threading.Event()

    def client(n):
        step = 0
        while not done.is_set():
            step += 1
            key = f"roll-{n}-{step}-{uuid.uuid4().hex[:8]}"
            body = {"user_id": customers[n].pk, "product_id": products[step % 3].pk}
            for _ in range(50):  # retried with its key on a connection error, as a client does
                status, payload = site.buy(tokens[n], body, key)
                with lock:
                    attempts[status] += 1
                if status is not None:
                    break
                time.sleep(0.1)
            with lock:
                answers[status] += 1
                if status == 201:
                    acknowledged[key] = payload["id"]
            time.sleep(PAUSE)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # the load is on before the release starts
    status, output = site.release()
    time.sleep(1)  # and stays on after it ends
    done.set()
    for thread in threads:
        thread.join(timeout=60)

    print(f"\n{output}")
    print(
        f"rolling release under load: {sum(answers.values())} purchases sent, "
        f"{answers[201]} acknowledged (201), {sum(attempts.values())} attempts, "
        f"{attempts[None]} connection errors retried, "
        f"{sum(n for s, n in answers.items() if s != 201)} failed"
    )
    assert status == 0, output
    assert set(site.pids()).isdisjoint(before), "each instance was restarted"
    assert answers == {201: answers[201]} and answers[201] > 0, answers
    assert attempts[None] == 0, "no connection was refused or reset on the way"
    assert Purchase.objects.filter(pk__in=acknowledged.values()).count() == len(acknowledged)
    assert Purchase.objects.count() == len(acknowledged), "one purchase per key"
    assert "the sales totals agree with the purchases" in output


def migrate(*target):
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", *target],
        cwd=ROOT,
        env={**_process_env(), "DATABASE_URL": database_url()},
        check=True,
        capture_output=True,
        timeout=120,
    )


def _process_env():
    import os

    return {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}


@pytest.fixture
def schema_before_the_totals(postgres_only):
    """The test database migrated back to the previous release's schema (purchases 0001,
    users 0001, shop 0002), and forward again at the end."""
    migrate("purchases", "0001")
    migrate("users", "0001")
    migrate("shop", "0002")
    yield
    migrate()


class OldCode:
    """Old code's writes: purchases straight into their table, no totals touched; an
    account without an email key; an Idempotency-Key row with its answer as JSON and an
    unkeyed fingerprint, no `body` or `content_type`.

    It writes until `stop_file` has a line for each instance restarted (then no old code
    runs), and notes, per insert, whether the totals' tables existed when it committed.
    """

    def __init__(self, customer, product, stop_file, instances):
        self.customer, self.product = customer, product
        self.stop_file, self.instances = stop_file, instances
        self.inserted = Counter()  # "before" / "after" the totals' tables existed
        self.errors = []
        self.thread = threading.Thread(target=self.write)
        self.thread.start()

    def stopped(self):
        lines = self.stop_file.read_text().split() if self.stop_file.exists() else []
        return len(lines) >= self.instances

    def write(self):
        with psycopg.connect(database_url(), autocommit=True) as old:
            while not self.stopped():
                try:
                    exists = self.write_once(old)
                except psycopg.Error as error:
                    self.errors.append(str(error))
                else:
                    self.inserted["after" if exists else "before"] += 1
                time.sleep(0.01)

    def write_once(self, old):
        """One of each write, each its own transaction as in the old code (a sign-up, a
        keyed request, a purchase); whether the totals' tables existed when the purchase
        committed."""
        n = sum(self.inserted.values()) + len(self.errors)
        with old.transaction():
            old.execute(
                "INSERT INTO users_user (password, is_superuser, email, first_name, last_name,"
                " gender, is_staff, is_active, date_joined)"
                " VALUES ('!', false, %s, 'Old', 'Code', '', false, true, now())",
                [f"Old-{n}@Example.com"],
            )
        with old.transaction():
            old.execute(
                "INSERT INTO shop_idempotencykey (scope, key, fingerprint, claim, status_code,"
                " response, created_at) VALUES ('anonymous', %s, %s, %s, 201, %s, now())",
                [f"old-{n}", "0" * 64, uuid.uuid4(), json.dumps({"id": n})],
            )
        with old.transaction():
            old.execute(
                "INSERT INTO purchases_purchase (user_id, product_id, quantity,"
                " unit_price, customer_email, product_sku, product_name, created_at)"
                " VALUES (%s, %s, 2, %s, %s, %s, %s, now())",
                [
                    self.customer.pk,
                    self.product.pk,
                    self.product.price,
                    self.customer.email,
                    self.product.sku,
                    self.product.name,
                ],
            )
            (exists,) = old.execute(
                "SELECT to_regclass('purchases_productsales') IS NOT NULL"
            ).fetchone()
        return exists


def test_a_release_migrating_while_old_code_writes_leaves_the_sales_totals_right(
    schema_before_the_totals, site, tmp_path
):
    # Created as the old code creates accounts: its schema has no email key yet.
    email = "old-customer@example.com"
    customer = SimpleNamespace(pk=previous_release.insert_user(email), email=email)
    product = Product.objects.create(sku="OLD-1", name="Old", price="4.25")
    stop_file = tmp_path / "restarted"
    old_code = OldCode(customer, product, stop_file, instances=len(site.ports))
    time.sleep(0.5)
    restart = (
        f"echo {{port}} >> {stop_file} && {sys.executable} {UNITS}"
        f" --state {site.systemd.state_dir} restart shop-web@{{port}}"
    )

    # Its management commands run the way deploy/shop-manage runs them on an application
    # host: with a unit's environment and directory.
    manage = (
        f"{sys.executable} {UNITS} --state {site.systemd.state_dir} exec shop-web@0"
        " /srv/shop/current/.venv/bin/python manage.py"
    )

    status, output = site.release("--restart", restart, "--manage", manage)
    old_code.thread.join(timeout=30)

    print(f"\n{output}\nold code's inserts: {dict(old_code.inserted)}")
    assert status == 0, output
    assert old_code.errors == [], "the old code's writes all worked beside the new schema"
    assert old_code.inserted["before"] > 0, "old code wrote while the schema was the old one"
    assert old_code.inserted["after"] > 0, "and after the migration, until its restart"
    assert "the sales totals drifted" in output, "the migration could not count them"
    assert "Rebuilt the sales totals" in output
    assert totals.drift() == []
    assert "email keys; 0 accounts have none." in output
    assert not User.objects.filter(email_key__isnull=True).exists()
    assert "idempotency keys the previous release wrote" in output
    assert not IdempotencyKey.objects.filter(body__isnull=True).exists()
    checked = subprocess.run(
        [sys.executable, "manage.py", "rebuild_sales_totals", "--check"],
        cwd=ROOT,
        env={**_process_env(), "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # And the new code keeps them right from here on.
    create_purchase(user=User.objects.get(pk=customer.pk), product=product, quantity=3)
    assert totals.drift() == []
    assert connection.vendor == "postgresql"


def test_an_instance_that_does_not_come_back_stops_the_release_out_of_nginx(site):
    before = site.pids()

    status, output = site.release("--no-migrate", "--restart", "false")

    assert status == 1 and "STOPPED" in output, output
    first, second = (f"127.0.0.1:{port}" for port in site.ports)
    assert load_nginx_renderer().down_upstreams(site.config) == [first]
    assert site.pids() == before, "the other instance was not touched"
    connection = http.client.HTTPSConnection(
        "127.0.0.1", site.tls_port, timeout=30, context=site.context
    )
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200, f"{second} still serves"
    connection.close()
