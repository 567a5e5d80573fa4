"""`shop.metrics`: `/metrics` behind its token, and what each metric counts, in-process.

The test process keeps its metrics in memory (no `PROMETHEUS_MULTIPROC_DIR`), so each test
reads a metric before and after what it does and asserts the difference. Across gunicorn
workers and from a Celery worker: `end_to_end/test_observability_live.py`.
"""

import socket
import urllib.error
import urllib.request

import pytest
from django.db import DatabaseError
from django.test import Client
from prometheus_client import REGISTRY

from end_to_end.servers import free_port
from products.models import Product
from products.tasks import sweep_stale_backfill_runs
from shop import ratelimit
from shop.metrics import UNRESOLVED, start_metrics_server
from shop.ratelimit import Rate
from shop.replica import REPLICA, read_report, replica_configured

TOKEN = "a-metrics-token-of-the-tests-0123456789"


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_token(settings):
    settings.SHOP_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(token=TOKEN, **extra):
    return Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def test_metrics_answer_the_token_in_the_prometheus_text_format(metrics_token):
    response = scrape()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE shop_http_requests_total counter" in response.content
    assert b"# TYPE shop_http_request_duration_seconds histogram" in response.content


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Token {TOKEN}", f"bearer {TOKEN}"],
)
def test_metrics_are_404_to_anyone_without_the_token(metrics_token, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = Client().get("/metrics", **extra)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert b"shop_http" not in response.content


def test_metrics_are_404_to_everyone_while_no_token_is_set(settings):
    settings.SHOP_METRICS_TOKEN = ""

    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer None").status_code == 404


@pytest.mark.django_db
def test_requests_are_counted_by_url_pattern_not_by_path(staff_client, metrics_token):
    products = [Product.objects.create(sku=f"M-{n}", name="m", price="1.00") for n in range(3)]
    labels = {"route": "product-detail", "method": "GET", "status": "200"}
    before = value("shop_http_requests_total", **labels)
    latency_before = value(
        "shop_http_request_duration_seconds_count", route=labels["route"], method="GET"
    )

    for product in products:
        assert staff_client.get(f"/products/{product.pk}").status_code == 200

    assert value("shop_http_requests_total", **labels) == before + 3
    assert (
        value("shop_http_request_duration_seconds_count", route=labels["route"], method="GET")
        == latency_before + 3
    )
    exposed = scrape().content.decode()
    assert f'/products/{products[0].pk}"' not in exposed
    assert f"products/{products[0].pk}" not in exposed


def test_paths_no_pattern_matches_share_one_label(metrics_token):
    labels = {"route": UNRESOLVED, "method": "GET", "status": "404"}
    before = value("shop_http_requests_total", **labels)

    for n in range(5):
        Client().get(f"/no/such/path/{n}")

    assert value("shop_http_requests_total", **labels) == before + 5


def test_unknown_methods_share_one_label():
    before = value("shop_http_requests_total", route="/healthz", method="other", status="405")

    Client().generic("BREW", "/healthz")

    assert value("shop_http_requests_total", route="/healthz", method="other", status="405") == (
        before + 1
    )


@pytest.mark.django_db
def test_database_time_is_observed_per_query():
    before = value("shop_db_query_duration_seconds_count", database="default")

    list(Product.objects.all())
    Product.objects.filter(sku="none").exists()

    assert value("shop_db_query_duration_seconds_count", database="default") >= before + 2


@pytest.mark.django_db
def test_a_connection_made_inside_an_execute_wrapper_block_keeps_its_timer_after_it():
    from django.db import connections

    from shop.metrics import _timed_query

    connection = connections.create_connection("default")  # not connected yet
    try:
        seen = []

        def watch(execute, sql, params, many, context):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(watch):
            connection.ensure_connection()  # connection_created fires inside the block

        assert connection.execute_wrappers == [_timed_query]
    finally:
        connection.close()


@pytest.mark.django_db
def test_task_outcomes_and_durations_are_counted():
    name = "products.sweep_stale_backfill_runs"
    before = value("shop_celery_tasks_total", task=name, outcome="success")
    durations = value("shop_celery_task_duration_seconds_count", task=name)

    sweep_stale_backfill_runs.delay()

    assert value("shop_celery_tasks_total", task=name, outcome="success") == before + 1
    assert value("shop_celery_task_duration_seconds_count", task=name) == durations + 1


@pytest.mark.django_db
def test_import_runs_are_counted_by_status_with_their_rows(staff_client, settings, tmp_path):
    settings.SHOP_PRODUCTS_CSV = tmp_path / "products.csv"
    settings.SHOP_PRODUCTS_CSV.write_text(
        "sku,name,description,category,price\nR-1,One,,Misc,1.00\nR-2,Two,,Misc,2.00\n"
    )
    runs = value("shop_backfill_runs_total", status="succeeded")
    rows = value("shop_backfill_rows_total")

    assert staff_client.get("/products/data/backfill").status_code == 200

    assert value("shop_backfill_runs_total", status="succeeded") == runs + 1
    assert value("shop_backfill_rows_total") in (rows, rows + 2)  # + 2 unless it took 0 s
    assert value("shop_backfill_last_rows_per_second") >= 0


@pytest.mark.django_db
def test_idempotent_replays_are_counted(customer_client, customer):
    product = Product.objects.create(sku="REPLAY-1", name="r", price="3.00")
    body = {"user_id": customer.pk, "product_id": product.pk, "quantity": 1}
    before = value("shop_idempotent_replays_total")

    for _ in range(3):
        customer_client.post("/purchases", body, format="json", HTTP_IDEMPOTENCY_KEY="m-1")

    assert value("shop_idempotent_replays_total") == before + 2


@pytest.mark.django_db
def test_rate_limit_refusals_are_counted_by_limit_never_by_address():
    before = value("shop_rate_limit_refusals_total", limit="test-metrics:address")

    for _ in range(4):
        ratelimit.hit("test-metrics:address:203.0.113.9", Rate(1, 60))

    assert value("shop_rate_limit_refusals_total", limit="test-metrics:address") == before + 3


@pytest.mark.django_db
def test_replica_fallbacks_are_counted_by_reason():
    if not replica_configured():
        pytest.skip("no read replica configured (make test sets DATABASE_REPLICA_URL)")

    def failing_on_the_replica(alias):
        if alias == REPLICA:
            raise DatabaseError("the replica is gone")
        return alias

    errors = value("shop_replica_fallbacks_total", reason="error")
    skipped = value("shop_replica_fallbacks_total", reason="marked_down")
    read_report(failing_on_the_replica)
    read_report(failing_on_the_replica)

    assert value("shop_replica_fallbacks_total", reason="error") == errors + 1
    assert value("shop_replica_fallbacks_total", reason="marked_down") == skipped + 1


def test_a_worker_whose_metrics_port_is_taken_goes_on_without_them(settings, monkeypatch, caplog):
    settings.SHOP_METRICS_TOKEN = TOKEN
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("HOST", "127.0.0.1")
        monkeypatch.setenv("SHOP_METRICS_PORT", str(taken.getsockname()[1]))
        assert start_metrics_server("beat") is None
    assert "cannot be served" in caplog.text


def test_beat_serves_its_metrics_with_the_token_only(settings, monkeypatch):
    settings.SHOP_METRICS_TOKEN = TOKEN
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("SHOP_METRICS_PORT", str(free_port()))
    server = start_metrics_server("beat")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=10
        ) as answer:
            assert b"# TYPE shop_http_requests_total counter" in answer.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
