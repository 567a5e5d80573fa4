"""PostgreSQL only: live gunicorn instances whose dependencies are down or hang.

- The primary refusing connections (a closed port) or never answering them (a loopback
  server that accepts and stays silent): every request that needs it answers 503 JSON
  with `Retry-After`, never 500, through DRF's handler and through Django's own
  (the admin's session); `/healthz` stays 200 and `/readyz` is 503 within 2 s.
- The replica and the broker hanging: `/readyz` is 200 "degraded" within 2 s and names
  them; reports still answer, from the primary.
"""

import http.client
import json
import threading
import time

import pytest

from end_to_end.conftest import token_for
from end_to_end.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

UNAVAILABLE = {"detail": "The database cannot be reached; retry shortly."}
# Whatever the primary does, the connect gives up within this (libpq's smallest).
CONNECT_TIMEOUT = 2


def call(port, method, path, headers=None, body=None):
    """One request: (status, headers with lower-case names, parsed JSON body, seconds)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
            body = json.dumps(body)
        connection.request(method, path, body, sent)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    answered = {k.lower(): v for k, v in response.getheaders()}
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = payload
    return response.status, answered, parsed, time.monotonic() - started


def all_at_once(port, requests):
    """Sends `requests` ({name: (method, path, headers, body)}) in parallel: {name: answer}."""
    answers = {}

    def send(name, request):
        answers[name] = call(port, *request)

    threads = [threading.Thread(target=send, args=item) for item in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def primary_at(port):
    return f"postgres://postgres@127.0.0.1:{port}/shop"


@pytest.fixture
def closed_port():
    return ("127.0.0.1", free_port())


@pytest.mark.parametrize("primary", ["closed_port", "hanging_server"])
def test_with_the_primary_unreachable_requests_are_503_with_retry_after_never_500(
    request, server_process, staff, tmp_path, primary
):
    token = token_for(staff)  # written to the real test database; the server cannot see it
    _, port = request.getfixturevalue(primary)
    server = server_process(
        workers=1,
        threads=8,
        ready_path="/healthz",
        env={
            "DATABASE_URL": primary_at(port),
            "DATABASE_REPLICA_URL": primary_at(port),
            "SHOP_DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        },
    )
    # The probes first: once requests wait on the primary, they hold the worker threads too.
    liveness = call(server.port, "GET", "/healthz")
    readiness = call(server.port, "GET", "/readyz")
    auth = {"Authorization": f"Token {token}"}
    sign_up = {"first_name": "A", "last_name": "B", "email": "a@example.com", "gender": "x"}
    answers = all_at_once(
        server.port,
        {
            "a list (token lookup)": ("GET", "/users", auth, None),
            "a purchase": ("POST", "/purchases", auth, {"user_id": 1, "product_id": 1}),
            "analytics (replica, then primary)": (
                "GET",
                "/purchases/analytic/most_valuable_customer",
                auth,
                None,
            ),
            "a sign-up (rate counters)": ("POST", "/users", None, sign_up),
            "a token (rate counters)": (
                "POST",
                "/auth/token",
                None,
                {"email": "a@example.com", "password": "x"},
            ),
            "the admin (session, Django's handler)": (
                "GET",
                "/admin/",
                {"Cookie": "sessionid=some-session"},
                None,
            ),
        },
    )

    for name, (status, headers, body, _) in answers.items():
        assert status == 503, (name, status, body)
        assert body == UNAVAILABLE, name
        assert headers["retry-after"] == "5", name
        assert headers["content-type"] == "application/json", name
    assert liveness[0] == 200
    status, _, body, seconds = readiness
    assert status == 503 and body["status"] == "unavailable"
    assert seconds < 2, f"/readyz took {seconds:.2f} s"
    assert body["checks"]["primary"]["ok"] is False
    assert body["checks"]["storage"]["ok"] is True
    print(f"\n{primary}: /readyz in {seconds:.2f} s: {body['checks']['primary']}")


def test_readyz_is_degraded_within_2_seconds_with_the_replica_and_broker_hanging(
    server_process, hanging_server, staff, tmp_path
):
    host, port = hanging_server
    server = server_process(
        workers=1,
        threads=8,
        ready_path="/healthz",
        env={
            "DATABASE_REPLICA_URL": f"postgres://postgres@{host}:{port}/shop",
            "SHOP_REPLICA_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "CELERY_BROKER_URL": f"redis://{host}:{port}/0",
            "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        },
    )

    status, _, body, seconds = call(server.port, "GET", "/readyz")

    assert seconds < 2, f"/readyz took {seconds:.2f} s"
    assert status == 200 and body["status"] == "degraded", body
    checks = body["checks"]
    assert checks["primary"]["ok"] and checks["storage"]["ok"]
    assert not checks["replica"]["ok"] and not checks["replica"]["required"]
    assert not checks["broker"]["ok"] and not checks["broker"]["required"]
    # Reports still answer, from the primary, once the replica's connect gives up.
    auth = {"Authorization": f"Token {token_for(staff)}"}
    report = call(server.port, "GET", "/purchases/analytic/top_products", auth)
    assert report[0] == 200, report
    print(f"\n/readyz in {seconds:.2f} s: {checks}")
