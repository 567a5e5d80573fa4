"""Helpers of the tests that race requests against each other."""

import threading
import time

from django.db import connection


def call_concurrently(function, count, timeout=60):
    """Calls `function(n)` for n in range(count) in threads released together; the results."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def run(n):
        try:
            barrier.wait(timeout=timeout)
            results[n] = function(n)
        except Exception as error:  # reported in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    return results


def waiting_on_a_lock(timeout=10):
    """Waits until another connection of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction PostgreSQL keeps showing its first view of the activity.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False
