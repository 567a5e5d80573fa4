"""Helpers of the tests that race requests against each other."""

import threading


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
