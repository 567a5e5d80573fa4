"""Where reports read: a PostgreSQL streaming replica when one is configured, else the primary.

Routing is explicit, at the places that read reports (the analytics endpoints,
the admin's sales page, CSV exports, the backfill run history): they call
`read_report(query)`, and nothing else ever reads the replica. Writes, and reads
that must see the caller's own writes (a customer's history after a purchase,
tokens and permissions, the price inside the purchase service), stay on the
primary because they never ask for it. A global read router would send those
to the replica too, where they could miss a write made a moment ago.

A replica that cannot be reached (its connection gives up after
`SHOP_REPLICA_CONNECT_TIMEOUT`, 2 s), or that fails a query for any reason (a
database without the schema, a migration not applied there yet, a query cancelled
by recovery), is logged and skipped for `REPLICA_RETRY_SECONDS`, during which
reports read the primary: a report is never an error because of the replica. A
streamed report (`stream_report`) commits to the replica only once its first
query there has answered. `manage.py check` warns when the replica lacks
migrations the primary has (`check_replica_migrations`).
"""

import contextlib
import logging
import threading
import time

from django.core import checks
from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

from shop import metrics

REPLICA = "replica"
PRIMARY = "default"
REPLICA_RETRY_SECONDS = 30

logger = logging.getLogger(__name__)
_down_until = 0.0
_lock = threading.Lock()


def replica_configured():
    return REPLICA in connections.settings


def reports_database():
    """The alias a report should read now: the replica if configured and not known down."""
    if not replica_configured():
        return PRIMARY
    if time.monotonic() < _down_until:
        metrics.replica_fallback("marked_down")
        return PRIMARY
    return REPLICA


def read_report(query):
    """Runs `query(alias)` on the reports' database; on the replica failing, on the primary.

    `query` must do all its reading before it returns (evaluate the querysets).
    """
    alias = reports_database()
    if alias == PRIMARY:
        return query(PRIMARY)
    try:
        return query(alias)
    except DatabaseError as error:
        # Unreachable, gone mid-query, without the schema, or a query cancelled by recovery.
        _mark_down(error)
        return query(PRIMARY)


def stream_report(rows_on):
    """The rows of `rows_on(alias)` (a generator reading the database as it goes) for a
    report streamed after the view has returned (a CSV export): from the replica if its
    first row (or its end) comes from there without an error, else all from the primary.

    Once a row has been read from the replica the stream stays there: a replica failing
    later breaks the stream off, as it cannot start over elsewhere.
    """
    alias = reports_database()
    if alias == PRIMARY:
        yield from rows_on(PRIMARY)
        return
    rows = rows_on(alias)
    try:
        first = next(rows)
    except StopIteration:
        return
    except DatabaseError as error:
        _mark_down(error)
        yield from rows_on(PRIMARY)
        return
    yield first
    yield from rows


def _mark_down(error):
    global _down_until
    metrics.replica_fallback("error")
    with _lock:
        _down_until = time.monotonic() + REPLICA_RETRY_SECONDS
    logger.warning(
        "The read replica cannot be used (%s); reports read the primary for the next %s s.",
        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
        REPLICA_RETRY_SECONDS,
    )
    # A broken connection would be handed out again; the next use opens a new one.
    with contextlib.suppress(DatabaseError):
        connections[REPLICA].close()


def replica_migrations_missing():
    """The migrations applied on the primary and not on the replica, as `app.name` strings
    (empty without a replica, or when the replica cannot be reached: that is not a setting)."""
    if not replica_configured():
        return []
    try:
        primary = set(MigrationRecorder(connections[PRIMARY]).applied_migrations())
        replica = set(MigrationRecorder(connections[REPLICA]).applied_migrations())
    except DatabaseError:
        return []
    return sorted(f"{app}.{name}" for app, name in primary - replica)


@checks.register()
def check_replica_migrations(app_configs=None, databases=None, **kwargs):
    """A warning when the replica lacks migrations of the primary (reports would fail there
    and fall back to the primary, every time)."""
    missing = replica_migrations_missing()
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return [
        checks.Warning(
            f"The read replica (DATABASE_REPLICA_URL) lacks {len(missing)} migration(s) the "
            f"primary has: {shown}.",
            hint="Point DATABASE_REPLICA_URL at a streaming replica of the primary's database; "
            "reports read the primary until it has them.",
            id="shop.W001",
        )
    ]
