"""`Idempotency-Key`: a retried `POST` replays its first answer instead of creating again.

The convention of payment APIs. A client that sends `POST /purchases` (or
`POST /users`) and never hears back cannot know whether the purchase was made;
it sends the same request again with the same key, and gets the first answer —
status and body — with nothing created a second time, whichever app instance
receives it.

How: the key is claimed by inserting its row in the same database transaction
as the write it guards, and the answer is stored in that row before the commit.
A second request with the key, on any instance, waits on the row's unique index
until the first commits (then replays it) or rolls back (then goes ahead itself);
it never sees a half-done first request. A first request that dies takes its
claim with it, so the retry runs as new. Keys are scoped to the signed-in user
(anonymous sign-ups share one scope), kept 24 hours, and expired by a periodic task.

What is stored: the first answer's exact bytes and content type (replayed as they
were), and a fingerprint of the request that is an HMAC keyed with `SECRET_KEY`, so
that a row (with a sign-up's password in the body it fingerprints) lets nobody test a
guessed password without the server's secret. A retry is recognised under the current
key or any of `SECRET_KEY_FALLBACKS`.

Rows the previous release wrote (while a release rolls: its answer as JSON in
`response`, no `body`, an unkeyed SHA-256 fingerprint) are recognised and replayed
here too, until `manage.py seal_idempotency_keys` converts them once that release no
longer serves. The other way round cannot be: that release compares fingerprints as
unkeyed SHA-256, which this code never stores, so a retry that reaches an instance
still running it with a key this code wrote answers 422 (the key "reused"), and
creates nothing. docs/operations.md, "Releases", says so.
"""

import functools
import hashlib
import json
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer

from shop import metrics
from shop.errors import Conflict, IdempotencyKeyReused
from shop.models import IdempotencyKey

HEADER = "Idempotency-Key"
# Printable ASCII, as HTTP header values are; long enough for a UUID or a client's own scheme.
KEY = re.compile(r"[\x21-\x7e]{1,255}")
# How long a second request waits for the first one with the same key (PostgreSQL).
WAIT = "10s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out
STILL_RUNNING = "A request with this Idempotency-Key is still being processed; retry in a moment."


def idempotent(handler):
    """Wraps a view's `create(self, request, …)` so that it honours `Idempotency-Key`."""

    @functools.wraps(handler)
    def create(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY.fullmatch(key):
            raise ValidationError(
                {HEADER: ["Send 1 to 255 printable ASCII characters (a UUID, say)."]}
            )
        scope = f"user:{request.user.pk}" if request.user.is_authenticated else "anonymous"
        fingerprint = fingerprint_of(request)
        with transaction.atomic():
            record, ours = claim(scope, key, fingerprint)
            if not ours:
                if not same_request(record, request):
                    raise IdempotencyKeyReused()
                return replay(record)
            response = handler(view, request, *args, **kwargs)
            remember(record, view, request, response)
            return response

    create.honours_idempotency_key = True  # for the schema (shop.schema)
    return create


FINGERPRINT_SALT = "shop.idempotency.fingerprint"


def request_text(request):
    """What makes two requests "the same": method, path (either slash form) and body."""
    data = request.data
    body = dict(data.lists()) if hasattr(data, "lists") else data
    return json.dumps([request.method, request.path.rstrip("/"), body], sort_keys=True, default=str)


def fingerprint_of(request, secret=None):
    """`request_text` as an HMAC-SHA-256 keyed with `secret` (`SECRET_KEY` by default)."""
    text = request_text(request)
    return salted_hmac(FINGERPRINT_SALT, text, secret=secret, algorithm="sha256").hexdigest()


def written_by_previous_release(record):
    """Whether the previous release wrote `record` (it stores no `body`)."""
    return record.body is None and record.status_code is not None


def same_request(record, request):
    """Whether `request` is the one `record` was claimed by, under the current secret or a
    fallback (a retry made across a rotation of `SECRET_KEY`); for a row the previous
    release wrote, by its unkeyed SHA-256 (compared, never stored by this code)."""
    if written_by_previous_release(record):
        unkeyed = hashlib.sha256(request_text(request).encode()).hexdigest()
        return bool(record.fingerprint) and constant_time_compare(record.fingerprint, unkeyed)
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(
        constant_time_compare(record.fingerprint, fingerprint_of(request, secret))
        for secret in secrets
    )


def claim(scope, key, fingerprint):
    """`(record, ours)`: the key's row, and whether this request has just written it.

    Call inside the transaction of the write. A row written by another request that
    has not committed yet is waited for (up to `WAIT`) by the database itself.
    """
    waits = connection.vendor == "postgresql"
    if waits:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{WAIT}'")
    try:
        _expired().filter(scope=scope, key=key).delete()
        mine = uuid.uuid4()
        IdempotencyKey.objects.bulk_create(
            [IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint, claim=mine)],
            ignore_conflicts=True,
        )
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise Conflict(STILL_RUNNING) from None
        raise
    if waits:
        # The wait is for the key alone: the write it guards waits on its own rows (and on
        # a rebuild of the sales totals) as long as it must, as it does without a key.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
    record = IdempotencyKey.objects.get(scope=scope, key=key)
    return record, record.claim == mine


def remember(record, view, request, response):
    """Keeps the answer, rendered now as it will be sent, in the key's row (same
    transaction as the write it answers)."""
    response.accepted_renderer = request.accepted_renderer
    response.accepted_media_type = request.accepted_media_type
    response.renderer_context = view.get_renderer_context()
    response.render()
    record.status_code = response.status_code
    record.body = response.content
    record.content_type = response["Content-Type"]
    record.save(update_fields=["status_code", "body", "content_type"])


def replay(record):
    """The first answer again, byte for byte, marked as a replay."""
    if written_by_previous_release(record):
        body, content_type = previous_release_answer(record)
    else:
        body, content_type = bytes(record.body), record.content_type
    response = HttpResponse(body, status=record.status_code, content_type=content_type)
    response["Idempotent-Replayed"] = "true"
    metrics.idempotent_replay()
    return response


def previous_release_answer(record):
    """`(body, content type)` of an answer the previous release stored as JSON, as the API
    renders JSON (that release replayed it through content negotiation)."""
    return JSONRenderer().render(record.response), "application/json"


def seal_previous_release_keys(batch_size=1000):
    """The rows the previous release wrote: their answer stored as bytes, their unkeyed
    fingerprint erased (a retry of one is then 422 and creates nothing, as a reused key).
    Run once that release no longer serves; returns how many rows it converted."""
    sealed = 0
    while True:
        with transaction.atomic():
            rows = list(
                IdempotencyKey.objects.select_for_update()
                .filter(body__isnull=True, status_code__isnull=False)
                .order_by("pk")[:batch_size]
            )
            for record in rows:
                record.body, record.content_type = previous_release_answer(record)
                record.fingerprint = ""
            IdempotencyKey.objects.bulk_update(rows, ["body", "content_type", "fingerprint"])
        sealed += len(rows)
        if len(rows) < batch_size:
            return sealed


def expire_keys():
    """Deletes the keys older than `IdempotencyKey.KEEP_HOURS`; returns how many."""
    deleted, _ = _expired().delete()
    return deleted


def _expired():
    """The keys past `IdempotencyKey.KEEP_HOURS`: a reused one counts as new again."""
    cutoff = timezone.now() - timedelta(hours=IdempotencyKey.KEEP_HOURS)
    return IdempotencyKey.objects.filter(created_at__lt=cutoff)
