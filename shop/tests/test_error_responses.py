"""`shop.error_responses`: SQLite's lock timeouts are 503, told apart by error code, not text."""

import sqlite3

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from shop.error_responses import exception_handler


@pytest.fixture
def sqlite_file(tmp_path, django_db_blocker):
    """A SQLite database of its own (the tests' may be PostgreSQL) with one table.

    Not the test database, so pytest-django's guard of database access is lifted for it."""
    path = tmp_path / "locks.sqlite3"
    with sqlite3.connect(path) as made:
        made.execute("CREATE TABLE t (n integer)")
    made.close()
    with django_db_blocker.unblock():
        yield path


def django_error(path, sql):
    """The error Django raises for `sql` on the SQLite database at `path` (waiting for nothing)."""
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {"timeout": 0}}
    connection = ConnectionHandler({"default": sqlite})["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except OperationalError as error:
        return error
    finally:
        connection.close()
    raise AssertionError(f"{sql} raised nothing")


def test_a_sqlite_lock_held_too_long_is_503_with_retry_after(sqlite_file):
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        error = django_error(sqlite_file, "SELECT n FROM t")
    finally:
        holder.close()

    response = exception_handler(error, {})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.data == {"detail": "The database is busy; retry shortly."}


def test_other_sqlite_errors_are_not_disguised_as_busy(sqlite_file):
    error = django_error(sqlite_file, "SELECT n FROM no_such_table")

    assert exception_handler(error, {}) is None


def test_an_error_is_not_busy_for_what_its_message_says():
    assert exception_handler(OperationalError("database is locked"), {}) is None
