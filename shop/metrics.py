"""Prometheus metrics of every shop process, and `GET /metrics` to read them.

Metrics are `prometheus_client`'s. With `PROMETHEUS_MULTIPROC_DIR` set (gunicorn sets it
for its workers: `gunicorn.conf.py`; the systemd units give each instance a directory of
its own) every process writes its values to files there and `/metrics` adds them up, so
the figures are the instance's, whichever worker answers the scrape. Without it (`make
run`, the tests' own process) they are this process's.

`GET /metrics` answers only `Authorization: Bearer $SHOP_METRICS_TOKEN` (compared in
constant time); unset token or another header: the API's 404, as for a path that does not
exist. Like `/healthz`, it is answered before the host check and the HTTPS redirect:
Prometheus scrapes each instance on its own address, over the private network.

Labels are bounded: a request's route is its URL pattern's name (`purchase-detail`, never
the path with its ids); requests no pattern matched (404s, redirects to HTTPS, the probes)
are `<unresolved>`, or the probe's own path. Celery workers and beat serve theirs on
`HOST:SHOP_METRICS_PORT` (`start_metrics_server`), read from their own directory.
"""

import hmac
import logging
import os
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

logger = logging.getLogger(__name__)

# A process given the directory but not started by its unit (a management command run with
# a web unit's environment) would fail its first query or request on the missing directory.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

METRICS_PATHS = frozenset({"/metrics", "/metrics/"})
# Answered by middleware before URL resolution: named by their path (a fixed set).
MIDDLEWARE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED = "<unresolved>"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter(
    "shop_http_requests",
    "Requests answered, by route (URL pattern), method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "shop_http_request_duration_seconds",
    "Time to the answer (its first byte for a streamed one), by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
DB_SECONDS = Histogram(
    "shop_db_query_duration_seconds",
    "Time of each database query, by database alias (default: the primary; replica).",
    ["database"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)
TASKS = Counter(
    "shop_celery_tasks",
    "Celery tasks run, by task and outcome (Celery's state, lower case).",
    ["task", "outcome"],
)
TASKS_SENT = Counter(
    "shop_celery_tasks_sent", "Celery tasks queued by this process (beat's schedule too).", ["task"]
)
TASK_SECONDS = Histogram(
    "shop_celery_task_duration_seconds",
    "How long Celery tasks ran, by task.",
    ["task"],
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
BACKFILL_RUNS = Counter(
    "shop_backfill_runs", "Catalogue import runs that ended, by status.", ["status"]
)
BACKFILL_ROWS = Counter("shop_backfill_rows", "CSV rows read by import runs that ran.")
BACKFILL_SECONDS = Counter(
    "shop_backfill_seconds", "Time import runs spent running (rows/s: rate of rows / of this)."
)
BACKFILL_ROWS_PER_SECOND = Gauge(
    "shop_backfill_last_rows_per_second",
    "Rows per second of the last import run that read rows.",
    multiprocess_mode="mostrecent",
)
IDEMPOTENT_REPLAYS = Counter(
    "shop_idempotent_replays", "POSTs answered with a replay of their Idempotency-Key's answer."
)
RATE_LIMIT_REFUSALS = Counter(
    "shop_rate_limit_refusals",
    "Requests a rate limit refused, by limit (its bucket's kind, without the address or account).",
    ["limit"],
)
REPLICA_FALLBACKS = Counter(
    "shop_replica_fallbacks",
    "Reports read from the primary instead of the configured replica: `error` (it failed just "
    "now), `marked_down` (it failed in the last 30 s).",
    ["reason"],
)


# --- Requests ------------------------------------------------------------------------------


def route_of(request):
    """The URL pattern that answered, by its name (`product-detail`; the admin's are
    `admin:…`), or the pattern itself when it has none."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or UNRESOLVED
    path = request.path_info.rstrip("/")
    return path if path in MIDDLEWARE_PATHS else UNRESOLVED


class MetricsMiddleware:
    """Counts and times every request; answers `GET /metrics`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        if request.path_info in METRICS_PATHS:
            response = metrics_view(request)
        else:
            response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        return response


def authorized(header):
    token = settings.SHOP_METRICS_TOKEN
    if not token:
        return False
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def collected():
    """The exposition text of this instance: every process's (multiprocess mode) or this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_view(request):
    from shop.error_responses import not_found

    if not authorized(request.META.get("HTTP_AUTHORIZATION")):
        return not_found(request)
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    response = HttpResponse(collected(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# --- The database ----------------------------------------------------------------------------


def _timed_query(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        DB_SECONDS.labels(context["connection"].alias).observe(time.perf_counter() - started)


def _time_queries(sender, connection, **kwargs):
    # The wrapper object outlives its connections (a reconnection signals again). First in
    # the list: `connection.execute_wrapper()` pops the last one when its block ends, and a
    # connection made inside such a block must keep this one, not the block's.
    if _timed_query not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _timed_query)


connection_created.connect(_time_queries, weak=False, dispatch_uid="shop.metrics.db_time")


# --- Celery ------------------------------------------------------------------------------


def _connect_celery_signals():
    from celery import signals

    started = {}

    @signals.task_prerun.connect(weak=False)
    def task_starts(task_id=None, **kwargs):
        started[task_id] = time.perf_counter()

    @signals.before_task_publish.connect(weak=False)
    def task_sent(sender=None, **kwargs):
        TASKS_SENT.labels(sender or "unknown").inc()

    @signals.task_postrun.connect(weak=False)
    def task_ends(task_id=None, task=None, state=None, **kwargs):
        began = started.pop(task_id, None)
        name = getattr(task, "name", None) or "unknown"
        TASKS.labels(name, (state or "unknown").lower()).inc()
        if began is not None:
            TASK_SECONDS.labels(name).observe(time.perf_counter() - began)


_connect_celery_signals()


# --- What the services report ----------------------------------------------------------------


def backfill_run_ended(run):
    BACKFILL_RUNS.labels(run.status).inc()
    elapsed = run.elapsed
    if run.rows and elapsed:
        BACKFILL_ROWS.inc(run.rows)
        BACKFILL_SECONDS.inc(elapsed)
        BACKFILL_ROWS_PER_SECOND.set(run.rows / elapsed)


def backfill_runs_failed(count):
    """Runs the sweep marked failed (their process died, or no worker took them)."""
    if count:
        BACKFILL_RUNS.labels("failed").inc(count)


def idempotent_replay():
    IDEMPOTENT_REPLAYS.inc()


def rate_limit_refused(bucket):
    # "sign-in:address:203.0.113.9" -> "sign-in:address": the kind, never who.
    RATE_LIMIT_REFUSALS.labels(":".join(bucket.split(":")[:2])).inc()


def replica_fallback(reason):
    REPLICA_FALLBACKS.labels(reason).inc()


# --- Workers and beat ------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes are not worth a log line each
        pass


def _metrics_app(environ, start_response):
    if environ.get("PATH_INFO") not in METRICS_PATHS or not authorized(
        environ.get("HTTP_AUTHORIZATION")
    ):
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"detail":"Not found."}']
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [collected()]


def start_metrics_server(role):
    """Serves `/metrics` (the same token) on `HOST:SHOP_METRICS_PORT`, in a thread.

    For a Celery worker (its main process: the pool's processes write to the multiprocess
    directory it reads) or beat. Nothing without `SHOP_METRICS_PORT` and a token. `HOST`
    is the host's private address (the units' environment file has it; 127.0.0.1 unset).
    """
    port = os.environ.get("SHOP_METRICS_PORT", "").strip()
    if not port or not settings.SHOP_METRICS_TOKEN:
        return None
    if role == "worker" and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning(
            "Metrics: SHOP_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR; the pool's "
            "processes would not be counted, so no metrics are served."
        )
        return None
    host = os.environ.get("HOST", "").strip() or "127.0.0.1"
    listen = f"{host}:{port}"
    try:
        server = make_server(host, int(port), _metrics_app, WSGIServer, _QuietHandler)
    except (OSError, ValueError) as error:
        # The jobs matter more than their metrics: the process goes on without them.
        logger.error("Metrics of this %s cannot be served on %s: %s", role, listen, error)
        return None
    thread = threading.Thread(target=server.serve_forever, name=f"metrics-{role}", daemon=True)
    thread.start()
    logger.info("Metrics of this %s on http://%s/metrics", role, listen)
    return server
