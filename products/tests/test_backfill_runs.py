"""The run's record (products/backfill/runs.py, progress.py, writer.py) under races.

- A cancel is honoured or refused, never lost: one that comes once the catalogue is
  committed is 409 and the run stays succeeded; one that comes before the commit
  rolls the import back.
- The write has its own progress (phase `writing`), and takes no lock on the
  catalogue that would make a read or a purchase wait (PostgreSQL, watched from a
  second connection while the import runs).
"""

import contextlib
import threading

import psycopg
import pytest
from django.db import connection, connections, transaction

from products.backfill import run_backfill, writer
from products.backfill.runs import cancel_run
from products.models import BackfillRun, Product
from products.tests.conftest import other_connection
from shop.errors import Conflict

Status = BackfillRun.Status
# Table locks that would make a plain read (ACCESS EXCLUSIVE) or a purchase's row lock and
# insert (SHARE and stronger) wait for the whole import.
BLOCKING_MODES = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
# The table locks held on the product table in this database (not the brief 'extend' lock
# of a growing file, nor another database's table of the same oid), by other sessions.
PRODUCT_TABLE_LOCKS = (
    "SELECT mode FROM pg_locks WHERE locktype = 'relation' "
    "AND relation = 'products_product'::regclass "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND pid <> pg_backend_pid()"
)


def write_csv(path, rows, prefix="P", price="1.00"):
    lines = (f"{prefix}-{n:07d},Product {n},{price}\n" for n in range(rows))
    path.write_text("sku,name,price\n" + "".join(lines))
    return path


def after_upsert(monkeypatch, action):
    """Runs `action(run)` right after the upsert statement, inside the import's transaction."""
    cls = writer.PostgresWriter if connection.vendor == "postgresql" else writer.SqliteWriter
    original = cls.upsert

    def upsert(self):
        counts = original(self)
        action(BackfillRun.objects.get(status=Status.RUNNING))
        return counts

    monkeypatch.setattr(cls, "upsert", upsert)


@pytest.mark.django_db(transaction=True)
class TestCancelRaces:
    def test_a_cancel_after_the_import_committed_is_409_and_the_run_stays_succeeded(
        self, monkeypatch, staff_client, tmp_path
    ):
        answers = []

        def cancel_after_commit(run):
            url = f"/products/data/backfill/runs/{run.pk}/cancel"
            transaction.on_commit(lambda: answers.append(staff_client.post(url)))

        after_upsert(monkeypatch, cancel_after_commit)

        run = run_backfill(write_csv(tmp_path / "p.csv", 3))

        assert [answer.status_code for answer in answers] == [409], answers[0].json()
        assert "already ended (succeeded)" in answers[0].json()["detail"]
        run.refresh_from_db()
        assert (run.status, run.cancel_requested, run.created) == (Status.SUCCEEDED, False, 3)
        assert Product.objects.count() == 3

    def test_a_cancel_before_the_commit_is_accepted_and_rolls_the_import_back(
        self, postgres_only, monkeypatch, tmp_path
    ):
        Product.objects.create(sku="P-0000000", name="Kept", price="9.00")
        accepted = []

        def cancel_from_elsewhere(run):
            # Another request, on its own connection, while the upsert's rows are uncommitted.
            def cancel():
                try:
                    accepted.append(cancel_run(run).cancel_requested)
                finally:
                    connections.close_all()

            thread = threading.Thread(target=cancel)
            thread.start()
            thread.join(timeout=30)

        after_upsert(monkeypatch, cancel_from_elsewhere)

        run = run_backfill(write_csv(tmp_path / "p.csv", 3))

        assert accepted == [True]
        assert (run.status, run.error) == (Status.CANCELLED, "cancelled while running")
        run.refresh_from_db()
        assert run.status == Status.CANCELLED
        assert list(Product.objects.values_list("sku", "name")) == [("P-0000000", "Kept")]

    def test_a_cancel_of_an_ended_run_does_not_mark_it_cancel_requested(self, staff_client):
        run = BackfillRun.objects.create(source="done.csv", status=Status.SUCCEEDED)

        with pytest.raises(Conflict):
            cancel_run(run)

        run.refresh_from_db()
        assert (run.status, run.cancel_requested) == (Status.SUCCEEDED, False)


class Watcher:
    """Watches a run from a second connection while it runs: the phases and progress it
    shows, the locks taken on the product table, and whether a read and a purchase's row
    lock of a product get through within PostgreSQL's own 1 s `lock_timeout`."""

    def __init__(self, product_id, *, follow_run=True):
        self.product_id, self.follow_run = product_id, follow_run
        self.seen, self.modes, self.waits = [], set(), []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)

    def watch(self):
        with contextlib.closing(other_connection()) as db:
            db.execute("SET lock_timeout = '1s'")
            while not self.stop.is_set():
                if self.follow_run:
                    self.follow(db)
                self.modes |= {mode for (mode,) in db.execute(PRODUCT_TABLE_LOCKS)}
                try:
                    db.execute("SELECT name FROM products_product WHERE id = %s", [self.product_id])
                    with db.transaction():
                        db.execute(
                            "SELECT id FROM products_product WHERE id = %s FOR UPDATE",
                            [self.product_id],
                        )
                except psycopg.errors.LockNotAvailable as error:
                    self.waits.append(str(error))
                self.stop.wait(0.01)

    def follow(self, db):
        row = db.execute(
            "SELECT status, phase, progress FROM products_backfillrun ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None and row[0] == Status.RUNNING:
            self.seen.append((row[1], row[2]))


@pytest.mark.django_db(transaction=True)
class TestWritePhase:
    def test_a_load_larger_than_the_catalogue_never_locks_reads_or_purchases_out(
        self, postgres_only, settings, tmp_path
    ):
        settings.SHOP_BACKFILL_PROGRESS_SECONDS = 0.02
        product = Product.objects.create(sku="KEEP-1", name="Kept", price="9.00")
        path = write_csv(tmp_path / "big.csv", 100_000)

        with Watcher(product.pk, follow_run=False) as watcher:
            run = run_backfill(path)

        assert (run.status, run.created) == (Status.SUCCEEDED, 100_000)
        assert watcher.modes & BLOCKING_MODES == set(), watcher.modes
        assert "RowExclusiveLock" in watcher.modes  # the watcher did see the write
        assert watcher.waits == []

    def test_the_write_has_its_own_progress_moving_from_0_to_1(
        self, postgres_only, settings, tmp_path
    ):
        settings.SHOP_BACKFILL_PROGRESS_SECONDS = 0.02
        product = Product.objects.create(sku="KEEP-1", name="Kept", price="9.00")
        path = write_csv(tmp_path / "big.csv", 100_000)

        with Watcher(product.pk) as watcher:
            run = run_backfill(path)

        phases = [phase for phase, _ in watcher.seen]
        assert phases == sorted(phases, key=["reading", "writing"].index), "reading, then writing"
        writing = [progress for phase, progress in watcher.seen if phase == "writing"]
        assert writing == sorted(writing)
        assert any(0 < progress < 1 for progress in writing), writing
        run.refresh_from_db()
        assert (run.status, run.phase, run.progress) == (Status.SUCCEEDED, "writing", 1.0)

    def test_a_run_reads_then_writes_and_ends_with_the_whole_write_done(self, tmp_path):
        run = run_backfill(write_csv(tmp_path / "p.csv", 5))

        run.refresh_from_db()
        assert (run.status, run.phase, run.progress, run.created) == (
            Status.SUCCEEDED,
            "writing",
            1.0,
            5,
        )

    def test_a_product_created_meanwhile_by_someone_else_is_updated_not_a_failure(
        self, postgres_only, tmp_path
    ):
        path = write_csv(tmp_path / "p.csv", 1000)
        outcome = []
        with contextlib.closing(other_connection()) as staff:
            # Someone creating P-0000001 by hand, not committed yet when the load writes.
            staff.autocommit = False
            staff.execute(
                "INSERT INTO products_product (sku, name, description, category, price, "
                "metal_type, stone_type, created_at, updated_at) "
                "VALUES ('P-0000001', 'By hand', '', '', 5, '', '', now(), now())"
            )

            def load():
                try:
                    outcome.append(run_backfill(path))
                finally:
                    connections.close_all()

            thread = threading.Thread(target=load)
            thread.start()
            # The load's INSERT waits on the uncommitted sku; then the hand-made one commits.
            waiting = staff.cursor()
            for _ in range(3000):
                waiting.execute("SELECT pg_stat_clear_snapshot()")
                waiting.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%%'"
                )
                if waiting.fetchone()[0]:
                    break
                thread.join(timeout=0.01)
            staff.commit()
            thread.join(timeout=60)

        (run,) = outcome
        assert (run.status, run.created, run.updated) == (Status.SUCCEEDED, 999, 1)
        assert Product.objects.get(sku="P-0000001").name == "Product 1"
        assert Product.objects.count() == 1000
