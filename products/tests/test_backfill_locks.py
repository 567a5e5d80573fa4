"""The one-run-at-a-time lock (products/backfill/locks.py), on both databases.

The lock is the database's, not the process's: "elsewhere" is another connection, as
another process would hold it.
"""

import pytest
from django.db import connection

from products.backfill.locks import ADVISORY_KEY, backfill_lock, lock_is_held, sqlite_lock_path
from products.backfill.runs import sweep_stale_runs
from products.models import BackfillRun
from products.tests.conftest import lock_held_elsewhere, other_connection
from shop.errors import BackfillLocked, Conflict, RunCancelled

pytestmark = pytest.mark.django_db


def test_the_lock_is_free_then_held_then_free_again():
    assert lock_is_held() is False
    with backfill_lock():
        assert lock_is_held() is True
    assert lock_is_held() is False


def test_a_lock_held_elsewhere_is_refused_after_the_wait():
    with lock_held_elsewhere(), pytest.raises(BackfillLocked), backfill_lock(wait=0.3):
        pass


def test_backfill_locked_is_a_conflict_with_a_sentence():
    assert issubclass(BackfillLocked, Conflict)
    assert str(BackfillLocked()) == "another backfill is running; try again when it has finished"


def test_a_lock_held_elsewhere_is_seen():
    with lock_held_elsewhere():
        assert lock_is_held() is True


def test_the_lock_is_taken_once_the_other_holder_lets_go():
    with lock_held_elsewhere():
        pass
    with backfill_lock():
        assert lock_is_held() is True


def test_a_waiter_no_longer_wanted_stops_waiting():
    asked = []

    def still_wanted():
        asked.append(True)
        return False

    with (
        lock_held_elsewhere(),
        pytest.raises(RunCancelled),
        backfill_lock(5, still_wanted=still_wanted),
    ):
        pass
    assert asked == [True]  # at the first poll, not after the whole wait


def test_the_sqlite_lock_is_a_file_beside_the_database(settings):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    name = str(connection.settings_dict["NAME"])
    path = sqlite_lock_path()
    if name.startswith("file:") or "memory" in name:
        assert path.endswith(".lock.sqlite3")
    else:
        assert path == f"{name}.backfill-lock"


@pytest.mark.django_db(transaction=True)
class TestLockOfThisDatabase:
    def test_another_databases_backfill_is_not_this_ones_lock(self, postgres_only):
        dead = BackfillRun.objects.create(source="dead.csv", status=BackfillRun.Status.RUNNING)
        elsewhere = other_connection("postgres")
        try:
            elsewhere.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])

            held = lock_is_held()
            swept = sweep_stale_runs()
        finally:
            elsewhere.close()

        assert held is False
        assert swept == 1
        dead.refresh_from_db()
        assert dead.status == BackfillRun.Status.FAILED
