"""Where reports read: a PostgreSQL streaming replica when one is configured, else the primary.

Routing is explicit, at the places that read reports (the analytics endpoints,
the admin's sales page, CSV exports, the backfill run history): they call
`read_report(query)`, and nothing else ever reads the replica. Writes, and reads
that must see the caller's own writes (a customer's history after a purchase,
tokens and permissions, the price inside the purchase service), stay on the
primary because they never ask for it. A global read router would send those
to the replica too, where they could miss a write made a moment ago.

A replica that cannot be reached (its connection gives up after
`SHOP_REPLICA_CONNECT_TIMEOUT`, 2 s) is logged and skipped for
`REPLICA_RETRY_SECONDS`, during which reports read the primary: a report is
never an error because the replica is down.
"""

import contextlib
import logging
import threading
import time

from django.db import DatabaseError, InterfaceError, OperationalError, connections

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
    if not replica_configured() or time.monotonic() < _down_until:
        return PRIMARY
    return REPLICA


def streaming_reports_database():
    """The alias for a report read after the view has returned (a streamed export): the
    replica if it answers now, else the primary (a stream cannot start over elsewhere)."""
    alias = reports_database()
    if alias == PRIMARY:
        return PRIMARY
    try:
        connections[alias].ensure_connection()
    except (OperationalError, InterfaceError) as error:
        _mark_down(error)
        return PRIMARY
    return alias


def read_report(query):
    """Runs `query(alias)` on the reports' database; on the replica failing, on the primary.

    `query` must do all its reading before it returns (evaluate the querysets).
    """
    alias = reports_database()
    if alias == PRIMARY:
        return query(PRIMARY)
    try:
        return query(alias)
    except (OperationalError, InterfaceError) as error:
        # Unreachable, gone mid-query, or a query cancelled by the standby's recovery.
        _mark_down(error)
        return query(PRIMARY)


def _mark_down(error):
    global _down_until
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


def forget_replica_state():
    """Forgets that the replica was down (tests)."""
    global _down_until
    _down_until = 0.0
