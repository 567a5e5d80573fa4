"""PostgreSQL only: a backfill killed mid-file leaves the catalogue as it was; a re-run finishes.

(The API server killed mid-burst is in end_to_end/test_crash_recovery.py.)
"""

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from products.backfill import run_backfill
from products.models import BackfillRun, Product

ROOT = Path(__file__).resolve().parents[2]


def database_url():
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    host = f"{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}"
    return f"postgres://{s['USER']}{password}@{host}/{s['NAME']}"


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_file_leaves_the_catalogue_as_it_was(postgres_only, tmp_path):
    Product.objects.create(sku="K-0", name="Before", price="1.00")
    Product.objects.create(sku="K-1", name="Untouched", price="2.00")
    big = tmp_path / "big.csv"
    with big.open("w") as out:
        out.write("sku,name,price\n")
        out.writelines(f"K-{n},Changed {n},{n}.99\n" for n in range(200_000))

    process = subprocess.Popen(
        [sys.executable, "manage.py", "backfill", str(big)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Kill it once it is writing the rows into the database, inside its transaction.
        with psycopg.connect(database_url().replace("postgres://", "postgresql://")) as watcher:
            watcher.autocommit = True

            def writing():
                assert process.poll() is None, process.stderr.read()
                return watcher.execute(
                    # This database's sessions only: other test runs share the server.
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND datname = current_database() AND query LIKE %s",
                    ["%products_backfill_staging%"],
                ).fetchone()[0]

            wait_for(writing)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == -signal.SIGKILL
    assert dict(Product.objects.values_list("sku", "name")) == {"K-0": "Before", "K-1": "Untouched"}
    killed = BackfillRun.objects.get()
    assert killed.status == BackfillRun.Status.RUNNING  # nobody could say otherwise yet

    # The next run waits for the dead session's lock to go, marks the record failed, and works.
    small = tmp_path / "small.csv"
    small.write_text("sku,name,price\nK-0,After,1.00\n")
    run = run_backfill(small, wait=60)
    killed.refresh_from_db()
    assert killed.status == BackfillRun.Status.FAILED
    assert "interrupted" in killed.error
    assert (run.status, run.updated) == (BackfillRun.Status.SUCCEEDED, 1)
    assert Product.objects.get(sku="K-0").name == "After"

    # Re-running the killed file finishes the job: the catalogue is the one a clean run
    # of it gives (from the catalogue as it was before the kill).
    rerun = run_backfill(big, wait=60)
    assert rerun.status == BackfillRun.Status.SUCCEEDED
    assert (rerun.created, rerun.rejected) == (199_998, 0)
    after_rerun = catalogue()
    Product.objects.all().delete()
    Product.objects.create(sku="K-0", name="Before", price="1.00")
    Product.objects.create(sku="K-1", name="Untouched", price="2.00")
    clean = run_backfill(big)
    assert clean.status == BackfillRun.Status.SUCCEEDED
    assert catalogue() == after_rerun
    assert len(after_rerun) == 200_000
    assert ("K-7", "Changed 7", "", "", Decimal("7.99")) in after_rerun


def catalogue():
    return set(Product.objects.values_list("sku", "name", "description", "category", "price"))


@pytest.mark.django_db
def test_the_lock_of_another_database_of_the_cluster_is_not_ours(postgres_only):
    from products.backfill.locks import ADVISORY_KEY, lock_is_held

    s = connection.settings_dict
    other = psycopg.connect(
        dbname="postgres",
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
        assert not lock_is_held()  # a backfill of another shop sharing the server
    finally:
        other.close()
