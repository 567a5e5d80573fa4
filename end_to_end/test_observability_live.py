"""PostgreSQL only: metrics across gunicorn's workers, and the request id through a real worker.

- gunicorn (gunicorn.conf.py) with 3 workers, one connection at a time each: 60 requests
  spread over them move the request counter of `/metrics` by exactly 60, whichever worker
  answers the scrapes; each worker's own file is read to show that all three served some.
- An upload with an `X-Request-ID`: the answer returns it, gunicorn's access log line and
  the backfill run's record name it, and the Celery worker (prefork, through Redis) that
  imports the file logs under it. The worker serves its own metrics (`SHOP_METRICS_PORT`),
  which count the task.
"""

import http.client
import os
import re
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from end_to_end.conftest import token_for
from end_to_end.servers import free_port, wait_for
from products.models import BackfillRun

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "live-metrics-token-" + uuid.uuid4().hex
REQUESTS = 60


def get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def samples(text, name, **labels):
    """The values of sample `name` whose labels include `labels`."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found.append(sample.value)
    return found


def index_requests(text):
    return sum(samples(text, "shop_http_requests_total", route="api-index", method="GET"))


def scrape(port):
    status, _, body = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return body.decode()


def per_process(metrics_dir):
    """The API index's request count in each worker's own file: {pid: count}."""
    counts = {}
    for path in Path(metrics_dir).glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=alone)
            count = index_requests(generate_latest(registry).decode())
        if count:
            counts[path.stem.removeprefix("counter_")] = count
    return counts


def test_sixty_requests_over_three_workers_move_the_counter_by_exactly_sixty(
    server_process, tmp_path
):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Sync workers take one connection at a time, so that 12 clients at once keep several
    # busy (a threaded worker accepts whatever comes and may serve nearly all of it: once
    # 59 of 60). Which workers serve is the kernel's choice: at least two must, for the sum
    # to be a sum over processes.
    server = server_process(
        workers=3,
        threads=1,
        env={
            "SHOP_METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "GUNICORN_CMD_ARGS": "--worker-class sync",
        },
    )
    before = index_requests(scrape(server.port))

    # New connections from 12 threads at once.
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: get(server.port, "/")[0], range(REQUESTS)))
    after = index_requests(scrape(server.port))
    served_by = per_process(metrics_dir)
    print(f"api-index GET: {before:.0f} before, {after:.0f} after; by worker pid: {served_by}")

    assert statuses == [200] * REQUESTS
    assert after - before == REQUESTS
    assert sum(served_by.values()) == after
    assert len(served_by) >= 2, served_by


def test_metrics_are_404_on_a_live_instance_without_the_token(server_process):
    server = server_process(env={"SHOP_METRICS_TOKEN": TOKEN})

    assert get(server.port, "/metrics")[0] == 404
    assert get(server.port, "/metrics", {"Authorization": "Bearer nope"})[0] == 404


def test_nginx_gives_every_request_its_own_id_and_hides_metrics(server_process, nginx_proxy):
    server = server_process(env={"SHOP_METRICS_TOKEN": TOKEN, "DJANGO_NUM_PROXIES": "1"})
    proxy = nginx_proxy(server)

    _, first, _ = get(proxy.port, "/healthz", {"X-Request-ID": "chosen-by-the-client"})
    _, second, _ = get(proxy.port, "/healthz")
    scraped = get(proxy.port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0]

    ids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids), ids
    assert ids[0] != ids[1]
    log = wait_for(
        lambda: (
            proxy.access_log.exists()
            and ids[1] in proxy.access_log.read_text()
            and proxy.access_log.read_text()
        ),
        10,
        message="nginx's access log",
    )
    assert f"request_id={ids[0]}" in log and f"request_id={ids[1]}" in log
    assert scraped == 404
    assert get(server.port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200


def pread_text(file):
    fd = file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


CSV = b"sku,name,description,category,price\nRID-1,One,,Misc,1.00\nRID-2,Two,,Misc,2.00\n"


def upload(port, token, request_id):
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="ids.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + CSV
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/products/data/backfill",
            body,
            {
                "Authorization": f"Token {token}",
                "Accept": "application/json",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "X-Request-ID": request_id,
            },
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_request_id_reaches_the_access_log_the_run_and_the_workers_log_lines(
    server_process, celery_worker, redis_url, staff, tmp_path
):
    worker_metrics = free_port()
    env = {
        "CELERY_BROKER_URL": redis_url,
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_LOG_LEVEL": "INFO",
        "SHOP_METRICS_TOKEN": TOKEN,
    }
    worker_dir = tmp_path / "worker-metrics"
    worker_dir.mkdir()
    worker = celery_worker(
        concurrency=2,
        loglevel="info",
        env={
            **env,
            "PROMETHEUS_MULTIPROC_DIR": str(worker_dir),
            "HOST": "127.0.0.1",
            "SHOP_METRICS_PORT": str(worker_metrics),
        },
    )
    server = server_process(env={**env, "GUNICORN_ACCESS_LOG": "1"})
    request_id = f"live-{uuid.uuid4().hex[:12]}"

    status, headers, body = upload(server.port, token_for(staff), request_id)

    assert status == 202, body
    assert headers["X-Request-ID"] == request_id
    run = BackfillRun.objects.get()
    assert run.request_id == request_id
    ended = re.compile(
        rf"INFO products\.tasks \[{request_id}\] Backfill run {run.pk} ended succeeded"
    )
    wait_for(lambda: ended.search(pread_text(worker.log)), 60, message="the worker's log line")
    assert re.search(
        rf'"POST /products/data/backfill HTTP/1.1" 202 .*request_id={request_id}', server.output()
    )

    def task_counted():
        status, _, text = get(worker_metrics, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        return status == 200 and samples(
            text.decode(),
            "shop_celery_tasks_total",
            task="products.run_backfill",
            outcome="success",
        ) == [1.0]

    wait_for(task_counted, 30, message="the worker's metrics counting the task")
    assert get(worker_metrics, "/metrics")[0] == 404
