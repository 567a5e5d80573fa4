"""PostgreSQL only: the reference topology of deploy/, live on loopback.

A real streaming replica of the test database (deploy/postgresql/make-replica.sh),
two gunicorn instances behind nginx (deploy/nginx/), one Celery worker on Redis.

- a mixed burst (sign-ups, token requests, purchases, history reads, analytics)
  through nginx gets no 5xx; one gunicorn instance killed mid-burst loses no
  acknowledged write, reads go on through the other, and every POST that died with
  it, retried with its `Idempotency-Key`, makes exactly one row;
- the analytics queries run on the replica, and a purchase shows in its reports
  within 2 s;
- nothing lives in one process: a token, the throttles, an admin session, the
  backfill lock and its run records are the same on either instance.
"""

import http.client
import http.cookies
import json
import random
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from conftest import PASSWORD, confirmed_app
from end_to_end.conftest import BEHIND_PROXY, database_name, database_url, token_for
from end_to_end.servers import ROOT, production_env
from products.models import Product
from purchases.models import Purchase
from users import second_factor
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 6
BURST_SECONDS, KILL_AFTER = 6.0, 2.0
SIGNUP_RATE, TOKEN_RATE = 60, 12  # per minute and client address, for every instance together
LOCK_ROWS = 600_000  # a run of several seconds on this machine
GONE = {None, 502, 503, 504}  # no answer, or nginx saying the instance it chose is gone


def call(port, method, path, *, token=None, body=None, headers=None, timeout=30):
    """One request: `(status or None if the connection failed, parsed body, headers)`."""
    sent = {"Accept": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Token {token}"
    if body is not None:
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, sent)
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException):
        return None, None, {}
    finally:
        connection.close()
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = payload
    return response.status, parsed, dict(response.getheaders())


class Topology:
    def __init__(self, first, second, proxy, worker, replica):
        self.first, self.second, self.proxy = first, second, proxy
        self.worker, self.replica = worker, replica


@pytest.fixture
def topology(replica, server_process, nginx_proxy, celery_worker, redis_url, tmp_path):
    env = {
        **BEHIND_PROXY,
        # One secret for every instance (it signs sessions and the admin's session hashes).
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        # Collected below, as a release does: production settings serve the admin's static
        # files from the collected manifest.
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "CELERY_BROKER_URL": redis_url,
        "DATABASE_REPLICA_URL": replica.url(database_name()),
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "SHOP_SIGNUP_RATE": f"{SIGNUP_RATE}/minute",
        "SHOP_TOKEN_RATE": f"{TOKEN_RATE}/minute",
    }
    collect_static(env)
    first, second = server_process(env=env), server_process(env=env)
    return Topology(first, second, nginx_proxy(first, second), celery_worker(env=env), replica)


def collect_static(env):
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=production_env(database_url(), extra=env),
        check=True,
        timeout=120,
    )


def with_retries(port, method, path, *, token=None, body, key, deadline=30):
    """A POST sent until it is answered by a live instance, always with the same key."""
    answers = []
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        status, payload, headers = call(
            port, method, path, token=token, body=body, headers={"Idempotency-Key": key}
        )
        answers.append(status)
        if status not in GONE:
            return answers, payload, headers
        time.sleep(0.2)
    raise AssertionError(f"{method} {path} never answered: {answers}")


def test_a_mixed_burst_survives_losing_an_instance_and_retries_never_double(
    topology, staff, make_user
):
    port = topology.proxy.port
    staff_token = token_for(staff)
    products = [
        Product.objects.create(sku=f"LIVE-{n}", name=f"Live {n}", price=f"{n + 1}.00")
        for n in range(5)
    ]
    customers = [make_user() for _ in range(THREADS)]
    tokens = [token_for(customer) for customer in customers]
    log, log_lock = [], threading.Lock()  # (kind, sent, answered, status, key or None)
    created = Counter()  # key → purchases or users acknowledged with it
    killed_at = []

    def record(kind, sent, status, key=None):
        with log_lock:
            log.append((kind, sent, time.monotonic(), status, key))

    started = time.monotonic()

    def client(n):
        rng = random.Random(n)
        customer, token = customers[n], tokens[n]
        step = -1
        while time.monotonic() - started < BURST_SECONDS:
            step += 1
            kind = rng.choice(["buy", "buy", "buy", "history", "analytics", "sign-up", "token"])
            sent = time.monotonic()
            if kind == "buy":
                key = f"buy-{n}-{step}"
                body = {"user_id": customer.pk, "product_id": rng.choice(products).pk}
                answers, payload, _ = with_retries(
                    port, "POST", "/purchases", token=token, body=body, key=key
                )
                for status in answers:
                    record(kind, sent, status, key)
                assert answers[-1] == 201, (answers, payload)
                with log_lock:
                    created[key] = payload["id"]
            elif kind == "sign-up" and step % 4 == 0:
                key = f"sign-up-{n}-{step}"
                body = {
                    "first_name": "Live",
                    "last_name": f"Client {n}",
                    "email": f"live-{n}-{step}@example.com",
                    "gender": "x",
                    "password": "a-live-and-long-passphrase",
                }
                answers, payload, _ = with_retries(port, "POST", "/users", body=body, key=key)
                for status in answers:
                    record(kind, sent, status, key)
                assert answers[-1] == 201, (answers, payload)
                with log_lock:
                    created[key] = payload["id"]
            elif kind == "token" and step % 6 == 0:
                body = {"email": customer.email, "password": "not the password"}
                record(kind, sent, call(port, "POST", "/auth/token", body=body)[0])
            elif kind == "analytics":
                path = rng.choice(
                    [
                        "/purchases/analytic/most_valuable_customer",
                        "/purchases/analytic/most_popular_product",
                        "/purchases/analytic/top_products?limit=3",
                    ]
                )
                record(kind, sent, call(port, "GET", path, token=staff_token)[0])
            else:
                path = f"/purchases/user/{customer.pk}?page_size=5"
                record("history", sent, call(port, "GET", path, token=token)[0])

    def kill_one_instance():
        time.sleep(KILL_AFTER)
        killed_at.append(time.monotonic())
        topology.first.kill()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    killer = threading.Thread(target=kill_one_instance)
    for thread in [*threads, killer]:
        thread.start()
    for thread in [*threads, killer]:
        thread.join(timeout=180)

    assert killed_at, "the instance was never killed"
    kill = killed_at[0]
    before = [entry for entry in log if entry[2] < kill]
    assert before, "nothing was answered before the kill"
    assert all(status is not None and status < 500 for *_, status, _ in before), before
    # After the kill, only requests caught in it may have failed (and were retried): the
    # reads sent once nginx knew the instance gone all succeeded.
    settled = [entry for entry in log if entry[1] > kill + 1 and entry[0] != "token"]
    assert settled and all(
        status == 200 or kind in ("buy", "sign-up") for kind, *_, status, _ in settled
    )
    assert all(status in (200, 201) for kind, sent, _, status, _ in settled if kind != "token")
    tokens_answered = [status for kind, *_, status, _ in log if kind == "token"]
    assert set(tokens_answered) <= {400, 429, *GONE}

    # Every acknowledged write is there, and every key made exactly one row.
    purchases = {key: pk for key, pk in created.items() if key.startswith("buy-")}
    assert Purchase.objects.filter(pk__in=purchases.values()).count() == len(purchases)
    assert Purchase.objects.count() == len(purchases)
    sign_ups = {key: pk for key, pk in created.items() if key.startswith("sign-up-")}
    assert User.objects.filter(email__startswith="live-").count() == len(sign_ups)
    retried = [key for kind, _, _, status, key in log if key and status in GONE]
    print(f"\nburst: {len(log)} answers, {len(retried)} POSTs retried after the kill: {retried}")


def test_analytics_run_on_the_replica_and_see_a_purchase_within_2_seconds(
    topology, staff, make_user
):
    port = topology.proxy.port
    staff_token = token_for(staff)
    product = Product.objects.create(sku="REP-1", name="Replicated", price="10.00")
    big_spender = make_user()
    offset = topology.replica.log_offset()

    status, _, _ = call(
        port,
        "POST",
        "/purchases",
        token=staff_token,
        body={"user_id": big_spender.pk, "product_id": product.pk, "quantity": 1000},
    )
    assert status == 201
    bought = time.monotonic()
    while True:
        status, top, _ = call(
            port, "GET", "/purchases/analytic/most_valuable_customer", token=staff_token
        )
        if status == 200 and top["id"] == big_spender.pk:
            break
        assert time.monotonic() - bought < 2, (status, top)
        time.sleep(0.05)
    print(f"\nthe purchase showed in the replica's report after {time.monotonic() - bought:.3f} s")

    on_replica = topology.replica.statements(database_name(), since=offset)
    assert any("purchases" in statement for statement in on_replica), on_replica[-10:]
    assert not any(statement.lstrip().upper().startswith("INSERT") for statement in on_replica)


def admin_session(port, user, otp):
    """Signs `user` in to the admin on the instance at `port`, with their password then the
    second-factor code `otp`: the session cookie's value."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/admin/login/")
    response = connection.getresponse()
    page = response.read().decode()
    cookies = http.cookies.SimpleCookie()
    for value in response.headers.get_all("Set-Cookie") or []:
        cookies.load(value)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "username": user.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf,
            "next": "/admin/",
        }
    )
    connection.request(
        "POST",
        "/admin/login/",
        form,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Referer": f"http://127.0.0.1:{port}/admin/login/",
        },
    )
    response = connection.getresponse()
    response.read()
    for value in response.headers.get_all("Set-Cookie") or []:
        cookies.load(value)
    # Signing in rotated the CSRF token: the second-factor page's form has the new one.
    cookie = "; ".join(f"{name}={cookies[name].value}" for name in cookies)
    connection.request("GET", "/admin/second-factor/", headers={"Cookie": cookie})
    response = connection.getresponse()
    page = response.read().decode()
    for value in response.headers.get_all("Set-Cookie") or []:
        cookies.load(value)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"code": otp, "csrfmiddlewaretoken": csrf, "next": "/admin/"})

    connection.request(
        "POST",
        "/admin/second-factor/",
        form,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{name}={cookies[name].value}" for name in cookies),
            "Referer": f"http://127.0.0.1:{port}/admin/second-factor/",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    for value in response.headers.get_all("Set-Cookie") or []:
        cookies.load(value)
    assert response.status == 302, response.status
    return cookies["sessionid"].value


def test_nothing_lives_in_one_instance(topology, staff, make_user, tmp_path):
    a, b = topology.first.port, topology.second.port
    # The live servers check passwords with production's hasher, not the tests' fast one.
    staff.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    staff.save()
    confirmed_app(staff)  # staff sign in with a second factor: here, recovery codes
    codes = second_factor._new_recovery_codes(staff)

    # A token issued by one instance works on the other.
    status, issued, _ = call(
        a,
        "POST",
        "/auth/token",
        body={"email": staff.email, "password": PASSWORD, "otp": codes[0]},
    )
    assert status == 200
    assert call(b, "GET", f"/users/{staff.pk}", token=issued["token"])[0] == 200

    # The sign-up and token throttles count for both instances together (one client address).
    client = {"X-Forwarded-For": "10.9.9.9"}
    statuses = [
        call(
            (a, b)[n % 2],
            "POST",
            "/users",
            body={"first_name": "T", "last_name": "T", "email": f"t{n}@example.com", "gender": "x"},
            headers=client,
        )[0]
        for n in range(SIGNUP_RATE + 1)
    ]
    assert statuses == [201] * SIGNUP_RATE + [429]
    client = {"X-Forwarded-For": "10.8.8.8"}
    # (An account not signed in to above: what is measured is the limit per address.)
    guess = {"email": "guessed@example.com", "password": "a wrong guess"}
    statuses = [
        call((a, b)[n % 2], "POST", "/auth/token", body=guess, headers=client)[0]
        for n in range(TOKEN_RATE + 1)
    ]
    assert statuses == [400] * TOKEN_RATE + [429]

    # An admin session made on one instance is good on the other.
    session = admin_session(a, staff, codes[1])
    connection = http.client.HTTPConnection("127.0.0.1", b, timeout=30)
    connection.request("GET", "/admin/", headers={"Cookie": f"sessionid={session}"})
    response = connection.getresponse()
    assert response.status == 200 and "Back office" in response.read().decode()
    connection.close()

    # A backfill queued on one instance is seen, and holds the lock, on the other. The
    # other's GET waits a second for the lock: the run must last well beyond that
    # (150,000 rows took about one second, and the GET then got the lock as it ended).
    rows = "".join(f"X-{n:07d},Product {n},Some words,Misc,1.00\n" for n in range(LOCK_ROWS))
    content = ("sku,name,description,category,price\n" + rows).encode()
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", a, timeout=60)
    connection.request(
        "POST",
        "/products/data/backfill",
        body,
        {
            "Authorization": f"Token {issued['token']}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = connection.getresponse()
    run = json.loads(response.read())
    connection.close()
    assert response.status == 202
    deadline = time.monotonic() + 60
    while (
        seen := call(b, "GET", f"/products/data/backfill/runs/{run['id']}", token=issued["token"])[
            1
        ]
    )["status"] != "running":
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert call(b, "GET", "/products/data/backfill", token=issued["token"])[0] == 409
    while (
        seen := call(b, "GET", f"/products/data/backfill/runs/{run['id']}", token=issued["token"])[
            1
        ]
    )["status"] == "running":
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    assert seen["status"] == "succeeded" and seen["created"] == LOCK_ROWS
