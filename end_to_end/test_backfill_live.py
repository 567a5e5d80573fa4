"""PostgreSQL only: the catalogue backfill as a background job, on a real worker.

gunicorn (gunicorn.conf.py) takes the uploads, a real `celery -A shop worker`
imports them through Redis, both on the test database and one upload folder:
nothing runs eagerly here. A large upload answers 202 at once and its progress
is seen moving; a cancel rolls the import back; a worker killed with SIGKILL
mid-import leaves the catalogue as it was and its run ends failed; two uploads
at once run one after the other. A cancel sent once the catalogue shows the
import's rows is refused (409), the run succeeded. An import larger than the
catalogue takes no table lock that would make a read or a purchase wait, and its
write phase shows its own progress. A frozen broker (Redis stopped with SIGSTOP:
it accepts connections and never answers) makes an upload 503, nothing queued.
"""

import contextlib
import http.client
import json
import shutil
import signal
import time
import uuid

import psycopg
import pytest

from end_to_end.conftest import database_url, token_for
from end_to_end.servers import FrozenRedis
from products.models import BackfillRun, Product

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 500_000
FINISHED = {"succeeded", "partial", "aborted", "failed", "cancelled"}


def catalogue(prefix, price, rows=ROWS):
    lines = (
        f"{prefix}-{n:07d},Product {n},A description of product {n},Misc,{price}\n"
        for n in range(rows)
    )
    return ("sku,name,description,category,price\n" + "".join(lines)).encode()


class Client:
    """Staff's side: uploads a file and reads its run, over HTTP with the API token."""

    def __init__(self, port, token, timeout=120):
        self.port, self.token, self.timeout = port, token, timeout

    def request(self, method, path, body=None, content_type=None):
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()

    def upload(self, content, name="catalogue.csv"):
        boundary = uuid.uuid4().hex
        body = (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(
            "POST", "/products/data/backfill", body, f"multipart/form-data; boundary={boundary}"
        )

    def run(self, run_id):
        status, _, body = self.request("GET", f"/products/data/backfill/runs/{run_id}")
        assert status == 200, body
        return body

    def follow(self, run_id, until, timeout=90):
        """Reads the run every 0.1 s until `until(run)`; returns every state seen."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen.append(self.run(run_id))
            if until(seen[-1]):
                return seen
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} never got there; last seen: {seen[-1]}")


@pytest.fixture
def live(server_process, celery_worker, redis_url, staff, tmp_path):
    """gunicorn and one worker (two processes) sharing the broker and the upload folder."""
    env = {
        "CELERY_BROKER_URL": redis_url,
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        # Progress four times a second (production: once): the import is seen moving here
        # however fast this machine reads the file.
        "SHOP_BACKFILL_PROGRESS_SECONDS": "0.25",
    }
    worker = celery_worker(concurrency=2, env=env)
    server = server_process(env=env)
    return Client(server.port, token_for(staff)), worker, tmp_path / "media"


def running_with_progress(run):
    return run["status"] == "running" and 0 < run["progress"] < 1


def test_a_large_upload_answers_202_at_once_shows_progress_and_imports_every_row(live):
    client, _, media = live

    started = time.monotonic()
    status, headers, run = client.upload(catalogue("BIG", "1.00"))
    answered = time.monotonic() - started

    assert status == 202, run
    assert run["status"] in ("queued", "running") and run["created"] == 0
    assert headers["Location"].endswith(f"/products/data/backfill/runs/{run['id']}")
    seen = client.follow(run["id"], lambda r: r["status"] in FINISHED)
    running = [(r["phase"], r["progress"]) for r in seen if r["status"] == "running"]
    phases = [phase for phase, _ in running]
    assert phases == sorted(phases, key=["reading", "writing"].index), phases
    reading = [progress for phase, progress in running if phase == "reading"]
    assert len({p for p in reading if 0 < p < 1}) >= 2, reading  # seen moving
    assert reading == sorted(reading)
    writing = [progress for phase, progress in running if phase == "writing"]
    assert writing == sorted(writing)
    assert any(0 < p < 1 for p in writing), running  # the write has its own progress
    final = seen[-1]
    assert (final["status"], final["rows"], final["created"], final["progress"]) == (
        "succeeded",
        ROWS,
        ROWS,
        1.0,
    )
    assert Product.objects.filter(sku__startswith="BIG-").count() == ROWS
    assert [p for p in media.rglob("*") if p.is_file()] == []  # the upload was deleted
    assert answered < final["elapsed"]  # the answer did not wait for the import


def test_a_cancel_rolls_a_running_import_back(live):
    client, _, _ = live
    Product.objects.create(sku="CAN-0000001", name="Kept", price="9.00")
    _, _, run = client.upload(catalogue("CAN", "1.00"))
    client.follow(run["id"], running_with_progress)

    status, _, asked = client.request("POST", f"/products/data/backfill/runs/{run['id']}/cancel")
    asked_at = time.monotonic()

    assert status == 202 and asked["cancel_requested"] is True
    final = client.follow(run["id"], lambda r: r["status"] in FINISHED, timeout=30)[-1]
    assert final["status"] == "cancelled"
    assert time.monotonic() - asked_at < 5
    assert list(Product.objects.values_list("sku", "name", "price")) == [
        ("CAN-0000001", "Kept", Product.objects.get().price)
    ]
    status, _, body = client.request("POST", f"/products/data/backfill/runs/{run['id']}/cancel")
    assert status == 409 and "already ended" in body["detail"]


def test_a_worker_killed_mid_import_leaves_the_catalogue_as_it_was(live):
    client, worker, media = live
    Product.objects.create(sku="KIL-0000001", name="Kept", price="9.00")
    _, _, run = client.upload(catalogue("KIL", "1.00"))
    client.follow(run["id"], running_with_progress)

    worker.kill(signal.SIGKILL)

    final = client.follow(run["id"], lambda r: r["status"] in FINISHED, timeout=60)[-1]
    assert final["status"] == "failed" and "interrupted" in final["error"]
    assert list(Product.objects.values_list("sku", "name")) == [("KIL-0000001", "Kept")]
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_two_uploads_at_once_run_one_after_the_other(live):
    client, _, _ = live
    _, _, first = client.upload(catalogue("ONE", "1.00", rows=60_000))
    _, _, second = client.upload(catalogue("TWO", "2.00", rows=60_000))

    client.follow(second["id"], lambda r: r["status"] in FINISHED)
    runs = {run.pk: run for run in BackfillRun.objects.filter(pk__in=[first["id"], second["id"]])}

    assert {run.status for run in runs.values()} == {"succeeded"}
    earlier, later = sorted(runs.values(), key=lambda run: run.started_at)
    assert later.started_at >= earlier.finished_at  # never interleaved
    assert Product.objects.count() == 120_000


def test_a_cancel_once_the_import_is_in_the_catalogue_is_409_and_the_run_succeeded(live):
    client, _, _ = live
    answers = []
    for attempt in range(3):
        prefix = f"LATE{attempt}"
        _, _, run = client.upload(catalogue(prefix, "1.00", rows=20_000))
        first = f"{prefix}-0000000"
        deadline = time.monotonic() + 60
        # As a person would: the file's first product shows, and at once they cancel.
        while not Product.objects.filter(sku=first).exists():
            assert time.monotonic() < deadline, client.run(run["id"])
            time.sleep(0.005)
        status, _, body = client.request("POST", f"/products/data/backfill/runs/{run['id']}/cancel")
        final = client.follow(run["id"], lambda r: r["status"] in FINISHED, timeout=30)[-1]
        answers.append((status, final["status"], final["cancel_requested"]))

        assert (status, final["status"]) == (409, "succeeded"), (body, final)
        assert final["cancel_requested"] is False
        assert Product.objects.filter(sku__startswith=f"{prefix}-").count() == 20_000
    print(f"\ncancels after the commit: {answers}")


BLOCKING_MODES = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
# The table locks held on the product table in this database (not the brief 'extend' lock
# of a growing file, nor another database's table of the same oid), by other sessions.
PRODUCT_TABLE_LOCKS = (
    "SELECT mode FROM pg_locks WHERE locktype = 'relation' "
    "AND relation = 'products_product'::regclass "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND pid <> pg_backend_pid()"
)


def test_an_import_larger_than_the_catalogue_never_locks_out_reads_or_purchases(live, make_user):
    client, _, _ = live
    kept = Product.objects.create(sku="KEEP-1", name="Kept", price="9.00")
    customer = make_user(email="buyer@example.com", first_name="Bea", last_name="Buyer")
    shopper = Client(client.port, token_for(customer), timeout=60)
    rows = 200_000
    _, _, run = client.upload(catalogue("HUGE", "1.00", rows=rows))

    modes, phases, answers, slowest = set(), [], [], 0.0
    with contextlib.closing(psycopg.connect(database_url(), autocommit=True)) as db:
        # PostgreSQL's own bound, not a clock in the test: a read or a row lock of the
        # product that waits for a lock longer than 1 s fails here.
        db.execute("SET lock_timeout = '1s'")
        while True:
            state = client.run(run["id"])
            if state["status"] in FINISHED:
                break
            phases.append((state["phase"], state["progress"]))
            modes |= {mode for (mode,) in db.execute(PRODUCT_TABLE_LOCKS)}
            db.execute("SELECT name FROM products_product WHERE id = %s", [kept.pk])
            with db.transaction():
                db.execute("SELECT id FROM products_product WHERE id = %s FOR UPDATE", [kept.pk])
            started = time.monotonic()
            read = shopper.request("GET", f"/products/{kept.pk}")
            bought = shopper.request(
                "POST",
                "/purchases",
                json.dumps({"user_id": customer.pk, "product_id": kept.pk, "quantity": 1}),
                "application/json",
            )
            slowest = max(slowest, time.monotonic() - started)
            answers.append((read[0], bought[0]))

    assert state["status"] == "succeeded" and state["created"] == rows, state
    assert modes & BLOCKING_MODES == set(), modes
    assert "writing" in {phase for phase, _ in phases}  # the watch overlapped the write
    assert answers and set(answers) == {(200, 201)}, answers
    writing = [progress for phase, progress in phases if phase == "writing"]
    assert any(0 < progress < 1 for progress in writing), phases
    print(f"\n{len(answers)} reads and purchases during the import; slowest pair {slowest:.2f} s")


@pytest.fixture
def frozen_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("live test: no redis-server")
    redis = FrozenRedis()
    yield redis
    redis.stop()


def test_an_upload_to_a_frozen_broker_is_503_and_leaves_nothing_queued(
    server_process, frozen_redis, staff, tmp_path
):
    timeout = 2  # CELERY_BROKER_CONNECTION_TIMEOUT
    media = tmp_path / "media"
    env = {
        "CELERY_BROKER_URL": frozen_redis.url,
        "CELERY_BROKER_CONNECTION_TIMEOUT": str(timeout),
        "DJANGO_MEDIA_ROOT": str(media),
    }
    server = server_process(env=env)
    # Before the fix the request never answered: the client's own timeout is the bound.
    client = Client(server.port, token_for(staff), timeout=timeout + 20)
    frozen_redis.freeze()

    started = time.monotonic()
    status, _, body = client.upload(catalogue("FRZ", "1.00", rows=10))
    answered = time.monotonic() - started

    assert status == 503, body
    run = BackfillRun.objects.get()
    assert run.status == "failed" and "unreachable" in run.error, run.error
    assert not BackfillRun.objects.filter(status__in=BackfillRun.ACTIVE).exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []
    print(f"\n503 after {answered:.2f} s with the broker frozen")

    frozen_redis.thaw()  # the same web processes queue again once it answers
    status, _, body = client.upload(catalogue("FRZ", "1.00", rows=10))
    assert (status, body["status"]) == (202, "queued"), body
