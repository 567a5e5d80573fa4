"""gunicorn's settings for this project, read from the working directory by `gunicorn shop.wsgi`.

The load bench and the live-server tests start gunicorn from here too, so what
they measure and test is what production runs. Command-line flags override.

gthread workers: three processes keep two cores busy while one waits on
PostgreSQL, and four threads each overlap the database round trips without a
process per connection. On 2 cores the load bench found 2x8, 3x4, 4x4 and 6x2
(workers x threads) within noise of each other (docs/benchmarks.md, "Load bench"); scale
`WEB_CONCURRENCY` with the cores (about 2 * cores + 1).
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5  # seconds an idle keep-alive connection is held (clients reuse it)
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") == "1" else None
# URLs up to 8 KB reach Django (nginx answers a JSON 414 past that; gunicorn's own default,
# 4 KB, would answer its HTML 414 to URLs nginx lets through).
limit_request_line = 8190
# gunicornc's control socket: one per instance, or none. gunicorn's default is one path for
# every instance a user runs on a host ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl): each
# instance that starts takes it over, and the first one stopped deletes it for the others.
# The systemd unit (deploy/systemd/shop-web@.service) gives each its own runtime directory.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True


# Access log lines name the request id the app answered with (`shop/requestid.py`), as the
# application's own lines of that request do.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'

# Prometheus metrics across the workers (`shop/metrics.py`): each worker writes its values
# to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up. It must be set before a
# worker imports prometheus_client, so here, in the master. The systemd unit gives each
# instance its own (emptied at each start); otherwise this instance makes one and removes it.
_metrics_dir_made = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    _metrics_dir_made = tempfile.mkdtemp(prefix="shop-gunicorn-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir_made


def on_starting(server):
    """The directory made if missing (a worker could not count a request: every one would
    fail); files left by an earlier run of this instance would add their counts to this one's."""
    from pathlib import Path

    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A dead worker's live gauges leave the sums (its counters stay: they happened)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_made is not None:
        import shutil

        shutil.rmtree(_metrics_dir_made, ignore_errors=True)


def post_worker_init(worker):
    """Once the worker has loaded the project: its modules, settings, URL patterns and
    serializer fields live as long as the worker, so they leave the garbage collector's
    generations (`gc.freeze`); every later collection walks only what requests make,
    and a request that triggers one waits less (the latency tail under load)."""
    import gc

    gc.collect()
    gc.freeze()
