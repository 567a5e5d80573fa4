"""`/healthz` and `/readyz` (`shop.health`), and a database that cannot be reached answered 503.

In-process, on either database; the same against live gunicorn instances whose primary,
replica or broker is down or hangs is in `end_to_end/test_outage_live.py`.
"""

import json
import threading
import time

import pytest
from django.db import OperationalError, connections
from django.db.utils import load_backend
from django.test import Client

from end_to_end.servers import free_port
from shop import errors
from shop.error_responses import exception_handler, server_error
from shop.health import CHECK_SECONDS

HEALTH_PATHS = ["/healthz", "/healthz/", "/readyz", "/readyz/"]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_healthz_answers_without_touching_the_database():
    # No database access is allowed in this test: a query would fail it.
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_names_each_dependency_and_is_200_when_they_answer(client, media):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    expected = {"primary", "storage"} | ({"replica"} if "replica" in connections else set())
    assert set(checks) == expected  # no broker: jobs run eagerly in these tests
    assert all(check["ok"] for check in checks.values())
    assert checks["primary"]["required"] and checks["storage"]["required"]
    if "replica" in checks:
        assert checks["replica"]["required"] is False
        assert "lag_seconds" in checks["replica"]
    assert not any(media.joinpath("readyz").iterdir()), "the storage probe leaves no file"


@pytest.mark.django_db
@pytest.mark.parametrize("path", HEALTH_PATHS)
def test_probes_skip_the_host_check_the_https_redirect_and_authentication(
    client, settings, media, path
):
    """A probe names the instance's own address and speaks plain HTTP to it."""
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    host = {"HTTP_HOST": "10.0.0.11:8001", "HTTP_AUTHORIZATION": "Token not-a-token"}

    assert client.get(path, **host).status_code == 200
    assert client.get("/", **host).status_code == 400, "other paths keep the host check"
    redirected = client.get("/", HTTP_HOST="shop.example.com")
    assert redirected.status_code == 301, "and the HTTPS redirect"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_never_throttled(client, settings, media, path):
    settings.SHOP_SIGNUP_RATE = settings.SHOP_TOKEN_RATE = "1/hour"
    assert [client.get(path).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_take_only_get_and_head(path):
    response = Client().post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_readyz_is_503_when_uploads_cannot_be_stored(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.MEDIA_ROOT = blocker / "media"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["storage"]["ok"] is False
    assert body["checks"]["storage"]["error"]
    assert body["checks"]["primary"]["ok"] is True


@pytest.mark.django_db
def test_readyz_answers_within_its_budget_when_the_broker_hangs(
    client, settings, media, hanging_server
):
    """200 (the broker is not required), and the hanging check is named; the next probe,
    sent while that check still hangs, does not start another."""
    host, port = hanging_server
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://{host}:{port}/0"

    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    again = client.get("/readyz").json()["checks"]["broker"]

    assert elapsed < 2, f"{elapsed:.2f} s"
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"] == {
        "required": False,
        "ok": False,
        "error": f"no answer within {CHECK_SECONDS} s",
    }
    assert again["error"] == "the previous check has not returned yet"
    hanging = [t for t in threading.enumerate() if t.name == "readyz-broker"]
    assert len(hanging) <= 1
    for thread in hanging:  # it gives up on its own socket timeout
        thread.join(timeout=10)
        assert not thread.is_alive()


# --- A database that cannot be reached: 503 with Retry-After --------------------------


def test_the_api_answers_a_database_it_cannot_reach_503_with_retry_after():
    response = exception_handler(errors.DatabaseUnavailable(), {})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.data == {"detail": "The database cannot be reached; retry shortly."}


def test_djangos_own_error_path_answers_it_503_too():
    """A middleware's or the admin's: Django calls handler500 while handling the error."""
    try:
        raise errors.DatabaseUnavailable()
    except errors.DatabaseUnavailable:
        response = server_error(None)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {
        "detail": "The database cannot be reached; retry shortly."
    }


def test_other_errors_stay_500_on_djangos_path():
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(None)

    assert response.status_code == 500


def test_a_connection_that_cannot_be_made_is_told_apart_by_type(db, postgres_only):
    settings_dict = {**connections["default"].settings_dict, "HOST": "127.0.0.1"}
    settings_dict["PORT"] = str(free_port())  # nothing listens there
    # A name of its own: the test framework lets a test open a connection made on the fly.
    closed = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "closed")

    with pytest.raises(errors.DatabaseUnavailable) as raised:
        closed.ensure_connection()

    assert isinstance(raised.value, OperationalError), "reports still fall back on it"
    closed.close()
