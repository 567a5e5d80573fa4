"""The request id (`shop.requestid`) and the log lines' format, in-process on either database.

The id carried through a real Celery worker and gunicorn's access log:
`end_to_end/test_observability_live.py`.
"""

import io
import json
import logging
import re
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client

from shop import requestid
from shop.tests.test_settings import manage

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_an_answer_carries_the_request_id_the_proxy_sent():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="0123abcd-nginx.id:7")

    assert response["X-Request-ID"] == "0123abcd-nginx.id:7"


def test_a_request_without_an_id_gets_a_new_one_each_time():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]

    assert HEX32.fullmatch(first) and HEX32.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\nFAKE 2026-01-01 CRITICAL forged line",
        "abc def",
        "x" * 129,
        "",
        'quote"s',
        "ünïcode",
        "a%0Ab",
    ],
)
def test_an_id_that_is_not_plausible_is_replaced_not_kept(hostile):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=hostile)

    assert HEX32.fullmatch(response["X-Request-ID"])


def test_the_longest_plausible_id_is_kept():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="a" * 128)

    assert response["X-Request-ID"] == "a" * 128


@pytest.fixture
def captured_log():
    """The project's LOGGING, with the console handler writing into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(requestid.RequestIdFilter())
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["text"]["format"]))
    logger = logging.getLogger("shop.tests.requestid")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_every_line_of_a_request_names_its_id_and_lines_outside_one_a_dash(captured_log):
    logger, stream = captured_log
    token = requestid.activate("req-42")
    try:
        logger.info("inside")
    finally:
        requestid.deactivate(token)
    logger.info("outside")

    inside, outside = stream.getvalue().splitlines()
    assert re.match(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO shop\.tests\.requestid \[req-42\] inside$",
        inside,
    )
    assert outside.endswith("INFO shop.tests.requestid [-] outside")


def test_the_json_format_writes_one_object_a_line_with_time_level_logger_and_id():
    script = (
        "import logging; from shop import requestid; requestid.activate('req-7');"
        "logging.getLogger('shop.x').warning('hello %s', 'there')"
    )
    output = manage("shell", "-c", script, DJANGO_LOG_FORMAT="json")
    assert output.returncode == 0, output.stderr
    line = json.loads(output.stderr.strip().splitlines()[-1])

    assert line["level"] == "WARNING"
    assert line["logger"] == "shop.x"
    assert line["request_id"] == "req-7"
    assert line["message"] == "hello there"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", line["time"])


def test_an_unknown_log_format_is_refused_at_start():
    output = manage("check", DJANGO_LOG_FORMAT="xml")

    assert output.returncode != 0
    assert "DJANGO_LOG_FORMAT must be text or json" in output.stderr


def test_a_task_queued_under_an_id_carries_it_and_runs_under_it():
    """The signal handlers a worker runs (the live test sends a real task through Redis)."""
    headers = {}
    token = requestid.activate("queued-by-req-9")
    try:
        requestid._send_request_id(headers=headers)
    finally:
        requestid.deactivate(token)
    task = SimpleNamespace(request=SimpleNamespace(**headers))

    requestid._task_starts(task_id="t-1", task=task)
    during = requestid.current()
    requestid._task_ends(task_id="t-1")

    assert headers == {requestid.TASK_HEADER: "queued-by-req-9"}
    assert during == "queued-by-req-9"
    assert requestid.current() is None


def test_a_task_queued_outside_a_request_carries_no_id_and_a_forged_one_is_ignored():
    headers = {}
    requestid._send_request_id(headers=headers)
    forged = SimpleNamespace(request=SimpleNamespace(**{requestid.TASK_HEADER: "a\nb"}))

    requestid._task_starts(task_id="t-2", task=forged)

    assert headers == {}
    assert requestid.current() is None
    requestid._task_ends(task_id="t-2")
