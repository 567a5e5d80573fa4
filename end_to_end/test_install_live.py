"""PostgreSQL only: the guide's database step (deploy/postgresql/create-database.sql) works.

The role it makes is no superuser and owns its database, and `manage.py migrate` as that
role builds the whole schema (PostgreSQL 15 lets only a database's owner create tables
in its public schema).
"""

import os
import secrets
import shutil
import subprocess
import sys

import psycopg
import pytest
from django.db import connections

from end_to_end.servers import DEPLOY, ROOT


@pytest.fixture
def server(postgres_only):
    """(host, port) of the test database's server, and a psql binary."""
    psql = shutil.which("psql") or "/usr/bin/psql"
    settings_dict = connections["default"].settings_dict
    return settings_dict["HOST"] or "127.0.0.1", str(settings_dict["PORT"] or 5432), psql


def admin(host, port):
    return psycopg.connect(f"postgres://postgres@{host}:{port}/postgres", autocommit=True)


def test_the_guides_sql_makes_a_role_that_owns_its_database_and_can_migrate_it(server):
    host, port, psql = server
    suffix = secrets.token_hex(4)
    role, database, password = f"shop_guide_{suffix}", f"shop_guide_{suffix}", secrets.token_hex(16)
    try:
        made = subprocess.run(
            [
                *(psql, "-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-X"),
                *("-v", "ON_ERROR_STOP=1", "-v", f"role={role}", "-v", f"database={database}"),
                *("-v", f"password={password}"),
                *("-f", str(DEPLOY / "postgresql/create-database.sql")),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        with admin(host, port) as connection:
            superuser, createdb = connection.execute(
                "select rolsuper, rolcreatedb from pg_roles where rolname = %s", [role]
            ).fetchone()
            (owner,) = connection.execute(
                "select pg_get_userbyid(datdba) from pg_database where datname = %s", [database]
            ).fetchone()
        assert (superuser, createdb, owner) == (False, False, role)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
        env["DATABASE_URL"] = f"postgres://{role}:{password}@{host}:{port}/{database}"
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with psycopg.connect(env["DATABASE_URL"]) as shop:
            (tables,) = shop.execute(
                "select count(*) from pg_tables where schemaname = 'public' and tableowner = %s",
                [role],
            ).fetchone()
        assert tables > 10
    finally:
        with admin(host, port) as connection:
            connection.execute(f'drop database if exists "{database}" with (force)')
            connection.execute(f'drop role if exists "{role}"')
