"""`GET /healthz` and `GET /readyz`: whether this instance is alive, and whether it can serve.

- `/healthz` (liveness) answers 200 whenever a worker thread can answer at all: it reads
  no database, no broker, no file, so that a dependency down never gets a healthy
  instance restarted.
- `/readyz` (readiness) checks each dependency in a thread of its own, all at once, and
  answers within `CHECK_SECONDS` even when one hangs: a check still running then counts as
  failed ("no answer within …"). 200 when the required ones answer, 503 otherwise:

  | dependency | required | why |
  |---|---|---|
  | `primary` | yes | every request but these two reads or writes it |
  | `storage` | yes | uploads are written there (a shared volume not mounted on this host) |
  | `replica` (when configured), with its lag | no | reports read the primary meanwhile |
  | `broker` (when configured) | no | only uploads need it, and it is the same for every instance |

  A check that hangs (a server that accepts and never answers) is not started again until
  it returns: a probe every second cannot pile up threads behind it.

`HealthMiddleware`, first in `MIDDLEWARE`, answers both before anything that could refuse
or fail a probe runs: no host check (a probe names the instance's own address, which
`ALLOWED_HOSTS` need not list), no HTTPS redirect (probes are plain HTTP on the instance;
`SECURE_REDIRECT_EXEMPT` is not needed), no session, authentication or throttle.
"""

import threading
import time
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend
from django.http import JsonResponse

from shop.replica import REPLICA, replica_configured

CHECK_SECONDS = 1.5  # a readiness answer comes within this, whatever hangs (probes wait 2 s)
LIVENESS_PATHS = frozenset({"/healthz", "/healthz/"})
READINESS_PATHS = frozenset({"/readyz", "/readyz/"})
# Where the storage check writes (and at once deletes) a small file.
STORAGE_PROBES = "readyz"

# One lock per dependency, held while its check runs: a check that hangs is not started again.
_running = {name: threading.Lock() for name in ("primary", "replica", "broker", "storage")}


def settings_of(alias):
    """The connection settings in force for database `alias`, read in the request's thread
    (in the tests, the replica's are those of the database it mirrors)."""
    return connections[alias].settings_dict


def fresh_connection(alias, settings_dict):
    """A connection of its own, made in the check's thread (Django's belong to one thread)."""
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)


def check_database(settings_dict):
    connection = fresh_connection(DEFAULT_DB_ALIAS, settings_dict)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()
    return {}


def check_replica(settings_dict):
    """The replica answers; on PostgreSQL, how far its replay is behind (seconds, or None)."""
    connection = fresh_connection(REPLICA, settings_dict)
    try:
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute("SELECT 1")
                cursor.fetchone()
                return {"lag_seconds": None}
            # Caught up (all it received is replayed): no lag, however long ago the last
            # write was. Otherwise: the age of the last transaction it replayed.
            cursor.execute(
                "SELECT pg_is_in_recovery(), CASE"
                " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
            )
            in_recovery, lag = cursor.fetchone()
    finally:
        connection.close()
    if not in_recovery:  # a primary named as the replica (as the tests do): nothing to lag
        return {"lag_seconds": 0.0, "in_recovery": False}
    return {"lag_seconds": None if lag is None else round(float(lag), 3), "in_recovery": True}


def check_broker():
    """A connection to Celery's broker, made and closed (Redis: it answers within the timeout)."""
    from kombu import Connection

    connection = Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=CHECK_SECONDS,
        transport_options={
            **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            "socket_connect_timeout": CHECK_SECONDS,
            "socket_timeout": CHECK_SECONDS,
        },
    )
    try:
        connection.ensure_connection(max_retries=0, timeout=CHECK_SECONDS)
    finally:
        connection.release()
    return {}


def check_storage():
    """A small file written to the uploads' storage and deleted again."""
    name = default_storage.save(f"{STORAGE_PROBES}/{uuid.uuid4().hex}", ContentFile(b"ready\n"))
    default_storage.delete(name)
    return {}


def dependencies():
    """(name, required, check) of every dependency this instance is configured with."""
    primary = settings_of(DEFAULT_DB_ALIAS)
    found = [
        ("primary", True, lambda: check_database(primary)),
        ("storage", True, check_storage),
    ]
    if replica_configured():
        replica = settings_of(REPLICA)
        found.append(("replica", False, lambda: check_replica(replica)))
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        found.append(("broker", False, check_broker))
    return found


def describe(error):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _run(name, check, outcome):
    started = time.monotonic()
    try:
        details = check()
    except Exception as error:  # any failure of a dependency is its answer
        outcome.update(ok=False, error=describe(error))
    else:
        outcome.update(ok=True, **details)
    finally:
        outcome["seconds"] = round(time.monotonic() - started, 3)
        _running[name].release()


def readiness(timeout=CHECK_SECONDS):
    """`(ready, {name: outcome})`: every dependency checked at once, within `timeout` seconds."""
    started, outcomes, threads = time.monotonic(), {}, []
    for name, required, check in dependencies():
        outcome = outcomes[name] = {"required": required}
        if not _running[name].acquire(blocking=False):
            outcome.update(ok=False, error="the previous check has not returned yet")
            continue
        thread = threading.Thread(
            target=_run, args=(name, check, outcome), name=f"readyz-{name}", daemon=True
        )
        thread.start()
        threads.append((name, thread))
    for name, thread in threads:
        thread.join(max(0.0, started + timeout - time.monotonic()))
        if thread.is_alive():
            # Reported as it stands now; the thread finishes (and frees its lock) on its own.
            outcomes[name] = {
                "required": outcomes[name]["required"],
                "ok": False,
                "error": f"no answer within {timeout} s",
            }
    ready = all(outcome["ok"] for outcome in outcomes.values() if outcome["required"])
    return ready, outcomes


def answer(body, status, **headers):
    response = JsonResponse(body, status=status, json_dumps_params={"separators": (",", ":")})
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


class HealthMiddleware:
    """Answers `/healthz` and `/readyz` itself; every other request goes on down the stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path not in LIVENESS_PATHS and path not in READINESS_PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return answer(
                {"detail": f'Method "{request.method}" not allowed.'}, 405, Allow="GET, HEAD"
            )
        if path in LIVENESS_PATHS:
            return answer({"status": "alive"}, 200)
        ready, outcomes = readiness()
        degraded = any(not outcome["ok"] for outcome in outcomes.values())
        status = "unavailable" if not ready else "degraded" if degraded else "ready"
        return answer({"status": status, "checks": outcomes}, 200 if ready else 503)
