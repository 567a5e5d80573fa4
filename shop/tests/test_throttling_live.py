"""PostgreSQL only: a rate limit holds across gunicorn's worker processes, not per worker.

Each request opens a connection of its own, so the master hands them to
whichever worker accepts first; with counters kept per process, three workers
would let three times the rate through.
"""

import http.client
import json

import pytest

WORKERS = 3
RATE = 5


def token_request(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"email": "nobody@example.com", "password": "not the password"})
    connection.request("POST", "/auth/token", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Retry-After")


@pytest.mark.django_db(transaction=True)
def test_the_token_rate_is_one_count_for_all_workers(server_process):
    server = server_process(workers=WORKERS, threads=2, env={"SHOP_TOKEN_RATE": f"{RATE}/minute"})

    answers = [token_request(server.port) for _ in range(RATE * WORKERS)]

    statuses = [status for status, _ in answers]
    assert statuses == [400] * RATE + [429] * (RATE * WORKERS - RATE)
    assert all(int(retry_after) > 0 for _, retry_after in answers[RATE:])
