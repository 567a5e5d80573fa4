"""Backfill runs as background jobs: queued, cancelled, found dead, refused when the queue is down.

The unit tests run jobs eagerly (no broker): Celery runs the task inside the
request. The same jobs on a real worker are in end_to_end/test_backfill_live.py.
"""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from products.backfill import run_backfill, run_queued
from products.backfill.runs import queue_run
from products.models import BackfillRun, Product
from products.tests.conftest import lock_held_elsewhere
from shop.celery import app as celery_app

pytestmark = pytest.mark.django_db

CSV = b"sku,name,price\nA-1,Anvil,10.00\nB-1,Bucket,2\n"
Status = BackfillRun.Status


def upload(content=CSV):
    return {"file": SimpleUploadedFile("products.csv", content, content_type="text/csv")}


def runs_url(run, action=""):
    return f"/products/data/backfill/runs/{run.pk}{action}"


class TestCancel:
    def test_a_queued_run_is_cancelled_and_never_starts(self, staff_client):
        run = queue_run(source="upload: later.csv")

        response = staff_client.post(runs_url(run, "/cancel"))

        assert response.status_code == 200
        assert (response.json()["status"], response.json()["error"]) == (
            "cancelled",
            "cancelled before it started",
        )
        assert run_queued(run.pk).status == Status.CANCELLED
        assert not Product.objects.exists()

    def test_a_running_run_is_asked_to_stop_202(self, staff_client):
        run = BackfillRun.objects.create(source="big.csv", status=Status.RUNNING)

        with lock_held_elsewhere():  # its worker is alive
            response = staff_client.post(runs_url(run, "/cancel"))

        assert response.status_code == 202
        assert (response.json()["status"], response.json()["cancel_requested"]) == (
            "running",
            True,
        )

    @pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
    def test_cancelling_a_run_that_has_ended_is_409(self, staff_client, status):
        run = BackfillRun.objects.create(source="done.csv", status=status)

        response = staff_client.post(runs_url(run, "/cancel/"))

        assert response.status_code == 409
        assert "has already ended" in response.json()["detail"]

    def test_only_staff_cancel(self, customer_client, anon_client):
        run = queue_run(source="upload: later.csv")

        assert anon_client.post(runs_url(run, "/cancel")).status_code == 401
        assert customer_client.post(runs_url(run, "/cancel")).status_code == 403
        assert BackfillRun.objects.get(pk=run.pk).status == Status.QUEUED

    def test_a_cancel_asked_during_the_import_rolls_it_back(self, csv_file):
        Product.objects.create(sku="A-1", name="Before", price="1.00")

        def cancel_now(reader):  # as if staff pressed Cancel while the file was being read
            BackfillRun.objects.filter(status=Status.RUNNING).update(cancel_requested=True)

        run = run_backfill(csv_file(CSV), on_start=cancel_now)

        assert run.status == Status.CANCELLED
        assert list(Product.objects.values_list("sku", "name")) == [("A-1", "Before")]

    def test_the_command_exits_4_when_its_run_is_cancelled(self, backfill, csv_file, monkeypatch):
        from products.backfill import imports as importer

        real_import = importer._import

        def cancelled_first(run, source, **options):
            BackfillRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            return real_import(run, source, **options)

        monkeypatch.setattr(importer, "_import", cancelled_first)

        assert backfill(csv_file(CSV)).code == 4
        assert not Product.objects.exists()


class TestRunsThatCannotFinish:
    def test_a_running_run_whose_process_died_reads_as_failed(self, staff_client):
        run = BackfillRun.objects.create(source="big.csv", status=Status.RUNNING)

        response = staff_client.get(runs_url(run))  # nobody holds the lock: its process died

        assert response.json()["status"] == "failed"
        assert "interrupted" in response.json()["error"]

    def test_a_running_run_whose_process_lives_stays_running(self, staff_client):
        run = BackfillRun.objects.create(source="big.csv", status=Status.RUNNING)

        with lock_held_elsewhere():
            assert staff_client.get(runs_url(run)).json()["status"] == "running"

    def test_a_run_queued_for_too_long_reads_as_failed(self, staff_client, settings):
        settings.SHOP_BACKFILL_QUEUE_TIMEOUT = 60
        old = queue_run(source="upload: lost.csv")
        BackfillRun.objects.filter(pk=old.pk).update(
            queued_at=timezone.now() - timezone.timedelta(minutes=2)
        )
        fresh = queue_run(source="upload: new.csv")

        statuses = {
            run["id"]: run["status"]
            for run in staff_client.get("/products/data/backfill/runs").json()
        }

        assert statuses == {old.pk: "failed", fresh.pk: "queued"}
        assert "never started" in BackfillRun.objects.get(pk=old.pk).error


def forget_connections():
    # Celery keeps the broker connections it made in pools; dropped, they are made again
    # from the settings of now.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class TestTheQueueIsDown:
    @pytest.fixture
    def broker_down(self, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path / "media"
        saved = celery_app.conf.task_always_eager, celery_app.conf.broker_url
        # Nothing listens on port 1 of the loopback: the connection is refused at once.
        celery_app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:1/0")
        forget_connections()
        yield settings.MEDIA_ROOT
        celery_app.conf.update(task_always_eager=saved[0], broker_url=saved[1])
        forget_connections()

    def test_an_upload_is_503_and_no_run_stays_queued(self, staff_client, broker_down):
        response = staff_client.post("/products/data/backfill", upload(), format="multipart")

        assert response.status_code == 503
        assert "job queue is unreachable" in response.json()["detail"]
        run = BackfillRun.objects.get()
        assert run.status == Status.FAILED and "unreachable" in run.error
        assert [p for p in broker_down.rglob("*") if p.is_file()] == []  # the file is gone

    def test_the_admin_says_so_and_keeps_the_form(self, client, staff, broker_down):
        client.force_login(staff)

        response = client.post("/admin/products/product/backfill/", upload())

        assert response.status_code == 200
        messages = [str(m) for m in response.context["messages"]]
        assert any("job queue is unreachable" in m for m in messages)
        assert BackfillRun.objects.get().status == Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_cancelled_while_it_waits_for_the_lock_never_starts(postgres_only):
    run = queue_run(source="upload: waiting.csv")
    outcome = []

    def worker():
        try:
            outcome.append(run_queued(run.pk))
        finally:
            connection.close()

    with lock_held_elsewhere():
        waiting = threading.Thread(target=worker)
        waiting.start()
        BackfillRun.objects.filter(pk=run.pk).update(status=Status.CANCELLED)
        waiting.join(timeout=10)

    assert not waiting.is_alive()
    assert outcome[0].status == Status.CANCELLED and outcome[0].started_at is None


def test_a_database_error_mid_import_fails_the_run_and_keeps_the_catalogue(csv_file, monkeypatch):
    from django.db import OperationalError

    from products.backfill.writer import Writer

    Product.objects.create(sku="A-1", name="Before", price="1.00")

    def broken(writer, *args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Writer, "remove_duplicates", broken)

    with pytest.raises(OperationalError):
        run_backfill(csv_file(CSV))

    run = BackfillRun.objects.get()
    assert run.status == Status.FAILED and "server closed the connection" in run.error
    assert list(Product.objects.values_list("sku", "name")) == [("A-1", "Before")]
