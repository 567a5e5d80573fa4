"""PostgreSQL only: the reference topology of deploy/ holds, in real processes.

nginx, rendered from deploy/nginx/, in front of one gunicorn (gunicorn.conf.py,
`DJANGO_NUM_PROXIES=1`):

- slow clients (partial headers, partial bodies) hold nginx's connections, not
  gunicorn's threads: the API keeps answering while 30 of them hang on;
- a request header that never ends is cut at `client_header_timeout`, however
  slowly it trickles in;
- URL and body limits: past them, nginx answers in the API's JSON; within them,
  Django answers; the CSV upload path takes bodies far past the ordinary limit;
- the rate limits key on the real client, whatever `X-Forwarded-For` it makes up.

And smoke tests of the other fixtures: the streaming `replica` (data arrives, its
statement log, it refuses writes) and a `celery_worker` on Redis (it answers a
ping; SIGKILL of its group leaves no process behind).
"""

import http.client
import json
import re
import secrets
import signal
import socket
import time

import psycopg
import pytest
from django.db import connection

from end_to_end.conftest import (
    BEHIND_PROXY,
    ON_SQLITE,
    database_name,
    database_url,
    token_for,
)
from end_to_end.servers import Nginx, Server, nginx_binary, wait_for
from products.models import Product

# Transactional, as every live test: what a test commits, the server processes see. (It
# also makes pytest-django create the test database that the module's servers use.)
pytestmark = pytest.mark.django_db(transaction=True)

SLOW_CLIENTS = 30
ANSWER_WITHIN = 5  # seconds: generous on 2 busy cores; a frozen server never answers
RATE = 5


@pytest.fixture(scope="module")
def proxy(django_db_setup):
    """nginx in front of one gunicorn with the production settings, for this module's tests.

    No test changes how the pair is configured, so one pair serves them all; what a test
    writes (a staff token) it commits, and the server reads it.
    """
    if connection.vendor != "postgresql":
        pytest.skip(ON_SQLITE)
    if nginx_binary() is None:
        pytest.skip("live test: no nginx (apt-get install nginx-light)")
    server = Server(database_url(), env=BEHIND_PROXY)
    try:
        nginx = Nginx([server.port])
    except BaseException:
        server.kill()
        raise
    yield nginx
    nginx.stop()
    server.kill()


def request(port, method, path, body=None, headers=None, source="127.0.0.1"):
    """One request on a connection of its own: (status, headers with lower-case names, body)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=ANSWER_WITHIN * 2, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def raw_exchange(port, head, body_part=b""):
    """Sends a request head (and the start of a body) as is; reads the answer to it."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN * 2) as sock:
        sock.sendall(head + body_part)
        response = http.client.HTTPResponse(sock)
        response.begin()
        payload = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def from_nginx(status, headers, body):
    """The JSON answer nginx itself makes (Django's all carry `X-Frame-Options`)."""
    assert headers["content-type"] == "application/json", (status, headers, body)
    assert "x-frame-options" not in headers, "Django answered, not nginx"
    return json.loads(body)


def from_django(status, headers, body):
    """The JSON answer of Django (through nginx), by the headers its middleware adds."""
    assert headers.get("x-frame-options") == "DENY", (status, headers, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    return json.loads(body)


def size_in_bytes(value):
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * 1024 ** " kmg".index(unit.lower() or " ")


# --- Slow clients -------------------------------------------------------------------


def test_slow_clients_do_not_freeze_the_server(proxy):
    """30 clients that never finish their request; gunicorn (12 threads) would freeze at 14."""
    slow = []
    try:
        for n in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            if n % 2:  # a header that never ends
                sock.sendall(b"GET /products HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:  # a body that never ends: nginx waits for it before passing the request on
                sock.sendall(
                    b"POST /purchases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
            slow.append(sock)

        for _ in range(5):
            started = time.monotonic()
            status, headers, body = request(proxy.port, "GET", "/products")
            assert status == 200, body
            assert time.monotonic() - started < ANSWER_WITHIN
            assert isinstance(from_django(status, headers, body), list)
    finally:
        for sock in slow:
            sock.close()


def test_a_header_that_never_ends_is_cut_at_client_header_timeout(proxy):
    """Closed after the timeout counted from the start: a byte now and then does not reset it."""
    timeout = proxy.seconds("client_header_timeout")
    assert timeout <= 10, "keep the timeout short: this test waits for it"
    received, closed = b"", False
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=1) as sock:
        sock.sendall(b"GET /products HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        while time.monotonic() - started < timeout + 5:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(b"X-Trickle: 1\r\n")
                except OSError:  # reset by nginx (reset_timedout_connection)
                    closed = True
                    break
                continue
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
        elapsed = time.monotonic() - started
    assert closed, f"still open after {elapsed:.1f} s"
    assert timeout - 1 <= elapsed <= timeout + 5
    # nginx sends no 408 for a header cut short: it closes the connection.
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received


# --- Limits ---------------------------------------------------------------------------


def test_a_url_past_8_kb_is_a_json_414(proxy):
    answer = request(proxy.port, "GET", "/products?search=" + "a" * 10_000)
    assert answer[0] == 414
    assert from_nginx(*answer) == {"detail": "The URL is too long."}


@pytest.mark.parametrize("length", [6_000, 8_100])
def test_a_url_under_8_kb_reaches_django(proxy, length):
    """Up to nginx's limit; the answer's Link header repeats the URL (first, last page)."""
    path = "/products?unknown="
    answer = request(proxy.port, "GET", path + "a" * (length - len(path)))
    assert answer[0] == 200, answer
    assert isinstance(from_django(*answer), list)


def test_a_body_past_the_ordinary_limit_is_nginx_json_413(proxy):
    """Refused on its Content-Length, before nginx reads it or gunicorn hears of it."""
    limit = size_in_bytes(proxy.setting("client_max_body_size"))
    assert limit <= 4 * 1024 * 1024
    head = (
        "POST /purchases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {limit + 1}\r\n\r\n"
    ).encode()
    answer = raw_exchange(proxy.port, head, b"[" + b" " * 65_536)
    assert answer[0] == 413
    assert from_nginx(*answer) == {"detail": "The request body is too large."}


def test_the_csv_upload_path_takes_bodies_past_the_ordinary_limit(proxy, staff):
    """Buffered whole by nginx, then passed on: Django reads it all and answers.

    The part is not the `file` field, so Django answers 400 once it has read the whole
    body. (An answer given before the body is read, a 401 for instance, may reach the
    client as nginx's 502: gunicorn closes the connection while nginx still sends.)
    """
    limit = size_in_bytes(proxy.setting("client_max_body_size"))
    boundary = "shop-test-boundary"
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="padding"; '.encode(),
            b'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n',
            b"x" * (limit + 1024 * 1024),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": f"Token {token_for(staff)}",
    }
    answer = request(proxy.port, "POST", "/products/data/backfill", body, headers)
    assert answer[0] == 400, answer
    assert from_django(*answer) == {"file": ["No file was submitted."]}


# --- Client addresses -------------------------------------------------------------------


def token_request(port, source, forwarded_for=None, account="nobody"):
    # Each attempt may name an account of its own: what is measured is the limit per address.
    body = json.dumps({"email": f"{account}@example.com", "password": "not the password"})
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return request(port, "POST", "/auth/token", body, headers, source=source)[0]


@pytest.mark.django_db(transaction=True)
def test_the_token_rate_is_per_client_behind_nginx(server_process, nginx_proxy):
    """Two clients (two loopback addresses) behind the one nginx: a count each.

    nginx reaches gunicorn from 127.0.0.1 for both, so a throttle keyed on the
    socket's address would count them together; one that trusted the client's
    `X-Forwarded-For` would let the forger through.
    """
    server = server_process(
        workers=2, threads=2, env={**BEHIND_PROXY, "SHOP_TOKEN_RATE": f"{RATE}/minute"}
    )
    proxy = nginx_proxy(server)

    forger = [
        token_request(proxy.port, "127.0.0.2", f"203.0.113.{n}", account=f"nobody{n}")
        for n in range(RATE + 2)
    ]
    assert forger == [400] * RATE + [429] * 2
    other = token_request(proxy.port, "127.0.0.3", account="someone")
    assert other == 400, "another client has a count of its own"


# --- The replica ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_replica_streams_logs_its_statements_and_refuses_writes(replica):
    table = Product._meta.db_table
    product = Product.objects.create(sku="REPLICA-1", name="Streamed", price="1.50")

    replica.wait_caught_up(timeout=2)
    with replica.connect(database_name()) as reader:
        row = reader.execute(f"select name from {table} where id = %s", [product.pk]).fetchone()
        assert row == ("Streamed",)

        marker = f"replica-smoke-{secrets.token_hex(4)}"
        reader.execute(f"select /* {marker} */ count(*) from {table}")
        assert any(marker in statement for statement in replica.statements(database_name()))

        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute(
                f"insert into {table} (sku, name, description, category, price, created_at, "
                "updated_at) values ('NO', 'No', '', '', 1, now(), now())"
            )


# --- Celery -----------------------------------------------------------------------------


def test_a_celery_worker_answers_and_dies_whole(celery_worker):
    worker = celery_worker()
    assert worker.ping() == [{worker.nodename: {"ok": "pong"}}]
    assert len(worker.processes()) >= 2, "the main process and its pool"

    worker.kill(signal.SIGKILL)

    wait_for(lambda: not worker.processes(), timeout=5, message="the worker's processes gone")
