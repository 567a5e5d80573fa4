"""PostgreSQL only: one second-factor code sent by many clients at once is accepted once.

A real gunicorn (2 workers, 4 threads each) on the test database takes 16 token
requests at once for one staff member: 8 with the same current code of their app, 8
with the same recovery code. Each code issues exactly one token; the others are 401
(used already) or 429 (the device's wait after a wrong code). The sign-in limits are
raised here so that they are not what refuses.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from knox.models import AuthToken

from conftest import PASSWORD, confirmed_app, current_code
from users import second_factor

CLIENTS = 8


@pytest.mark.django_db(transaction=True)
def test_a_code_sent_by_many_clients_at_once_issues_one_token(server_process, staff):
    # The server checks passwords with the project's hashers, not the tests' fast one
    # (a few iterations: the hash says how many).
    staff.password = PBKDF2PasswordHasher().encode(PASSWORD, "live-test-salt", iterations=1000)
    staff.save(update_fields=["password"])
    app = confirmed_app(staff)
    recovery = second_factor._new_recovery_codes(staff)[0]
    server = server_process(workers=2, threads=4, env={"SHOP_TOKEN_RATE": "1000/minute"})
    code = current_code(app)
    start = threading.Barrier(2 * CLIENTS)

    def obtain(otp):
        start.wait(timeout=30)
        body = {"email": staff.email, "password": PASSWORD, "otp": otp}
        return requests.post(f"{server.url}/auth/token", json=body, timeout=30).status_code

    with ThreadPoolExecutor(2 * CLIENTS) as pool:
        answers = list(pool.map(obtain, [code] * CLIENTS + [recovery] * CLIENTS))

    by_app, by_recovery = answers[:CLIENTS], answers[CLIENTS:]
    assert by_app.count(200) == 1, by_app
    assert by_recovery.count(200) == 1, by_recovery
    assert set(answers) <= {200, 401, 429}
    assert AuthToken.objects.filter(user=staff).count() == 2
    assert second_factor.recovery_codes_left(staff) == second_factor.RECOVERY_CODES - 1
