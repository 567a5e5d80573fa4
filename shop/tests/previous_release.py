"""Rows written as the previous release writes them, by raw SQL: what it does while a
release migrates and rolls, before its instances restart (deploy/release.py)."""

import hashlib
import json
import uuid

from django.db import connection
from django.utils import timezone


def unkeyed_fingerprint(method, path, body):
    """The previous release's fingerprint of a request: an unkeyed SHA-256."""
    text = json.dumps([method, path.rstrip("/"), body], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def insert_idempotency_key(*, scope, key, fingerprint, answer, status=201):
    """An Idempotency-Key row as that release writes it: its answer as JSON in `response`,
    and neither `body` nor `content_type` named (it does not know them)."""
    claim = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO shop_idempotencykey (scope, key, fingerprint, claim, status_code,"
            " response, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                scope,
                key,
                fingerprint,
                claim.hex if connection.vendor == "sqlite" else str(claim),
                status,
                json.dumps(answer),
                timezone.now(),
            ],
        )


def read_idempotency_key(key):
    """`(fingerprint, status, answer)` of a key, read as that release reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT fingerprint, status_code, response FROM shop_idempotencykey WHERE key = %s",
            [key],
        )
        fingerprint, status, response = cursor.fetchone()
    return fingerprint, status, json.loads(response) if isinstance(response, str) else response


def insert_user(email, *, password="!", is_staff=False):
    """A user as that release creates one: no `email_key` named (it does not know it).
    Returns its id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users_user (password, is_superuser, email, first_name, last_name,"
            " gender, is_staff, is_active, date_joined) VALUES (%s, %s, %s, %s, %s, %s, %s,"
            " %s, %s)",
            [password, False, email, "Old", "Release", "", is_staff, True, timezone.now()],
        )
        cursor.execute("SELECT id FROM users_user WHERE email = %s", [email])
        return cursor.fetchone()[0]


def change_email(user_id, email):
    """An email changed as that release changes it: the key left as it was."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users_user SET email = %s WHERE id = %s", [email, user_id])


def migrate(executor, *targets):
    """Migrates the test database to `targets` (app, migration) with the `migrator` fixture's
    executor, its graph read again (an earlier migrate changed what is applied)."""
    executor.loader.build_graph()
    executor.migrate(list(targets))
