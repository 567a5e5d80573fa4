"""Fixtures of the products tests: CSV files, running the command, holding the backfill lock."""

import io
import sqlite3
from contextlib import contextmanager

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from products.backfill.locks import ADVISORY_KEY, sqlite_lock_path

HEADER = "sku,name,description,category,price\n"


@pytest.fixture
def csv_file(tmp_path):
    """Writes a CSV (text is UTF-8 encoded as is; bytes are written raw) and returns its path."""
    counter = iter(range(1, 10**6))

    def write(content, name=None):
        path = tmp_path / (name or f"products-{next(counter)}.csv")
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return write


class Outcome:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def rejected_lines(self):
        return [line for line in self.err.splitlines() if line.startswith("line ")]


@pytest.fixture
def backfill(db):
    """Runs `manage.py backfill` in-process; returns its exit status and output."""
    from django.core.management.base import CommandError

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("backfill", *map(str, args), stdout=out, stderr=err)
            code = 0
        except CommandError as error:
            err.write(f"CommandError: {error}\n")
            code = error.returncode
        return Outcome(code, out.getvalue(), err.getvalue())

    return run


def other_connection(dbname=None):
    """A PostgreSQL connection of its own (autocommit) to this test database, or `dbname`."""
    s = connection.settings_dict
    return psycopg.connect(
        dbname=dbname or s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
    )


@contextmanager
def lock_held_elsewhere():
    """Holds the backfill lock from another database connection, as another process would."""
    if connection.vendor == "postgresql":
        other = other_connection()
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
            yield
        finally:
            other.close()
    else:
        other = sqlite3.connect(sqlite_lock_path(), isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            other.close()


@pytest.fixture
def held_lock():
    with lock_held_elsewhere():
        yield
