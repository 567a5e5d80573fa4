"""PostgreSQL only: rate limits hold exactly across gunicorn's workers and across instances.

A hundred sign-ups and a hundred wrong passwords at once, spread over two gunicorn
instances of two workers each, with the counters in the database and in Redis: exactly
the limit of each is let through, the others are 429 with `Retry-After`.

Each request opens a connection of its own, so the master hands them to whichever
worker accepts first; with counters kept per process, three workers would let three
times the rate through, and with a read-modify-write of a shared counter, requests
racing each other were all let through (89 of 100 sign-ups against 20/hour).
"""

import http.client
import json

import pytest

from shop.tests.integrity_helpers import call_concurrently

BURST = 100
# Few password checks pass (each costs the password hasher's time); every one of the 100 counts.
SIGNUP_LIMIT, TOKEN_LIMIT = 20, 10


def request(port, method, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        retry_after = response.getheader("Retry-After")
        assert (response.status == 429) == (retry_after is not None and int(retry_after) > 0)
        return response.status
    finally:
        connection.close()


@pytest.fixture(params=["database", "redis"])
def counters(request):
    """The environment that puts the counters in the database, or in the tests' Redis."""
    if request.param == "database":
        return {}
    return {"SHOP_RATE_LIMIT_REDIS_URL": request.getfixturevalue("redis_url")}


@pytest.mark.django_db(transaction=True)
def test_a_hundred_requests_at_once_on_two_instances_let_exactly_the_limit_through(
    server_process, counters
):
    env = {
        **counters,
        "SHOP_SIGNUP_RATE": f"{SIGNUP_LIMIT}/hour",
        "SHOP_TOKEN_RATE": f"{TOKEN_LIMIT}/hour",
    }
    ports = [server_process(workers=2, threads=4, env=env).port for _ in range(2)]

    def sign_up(n):
        body = {"first_name": "R", "last_name": "Ace", "email": f"racer{n}@example.com"}
        return request(ports[n % 2], "POST", "/users", {**body, "gender": "x"})

    def wrong_password(n):
        body = {"email": "victim@example.com", "password": f"guess {n}"}
        return request(ports[n % 2], "POST", "/auth/token", body)

    sign_ups = call_concurrently(sign_up, BURST, timeout=120)
    guesses = call_concurrently(wrong_password, BURST, timeout=120)

    assert sorted(sign_ups) == [201] * SIGNUP_LIMIT + [429] * (BURST - SIGNUP_LIMIT)
    assert sorted(guesses) == [400] * TOKEN_LIMIT + [429] * (BURST - TOKEN_LIMIT)
