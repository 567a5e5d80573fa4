"""Waits until a URL answers 200: an instance's /healthz (systemd) or /readyz (a release).

    python3 deploy/probe.py --wait 60 http://127.0.0.1:8001/readyz

Exits 0 as soon as the URL answers 200; 1, with the last answer or error, if it has not
within `--wait` seconds. Each attempt gives up after `--timeout` seconds. Standard library
only: it runs before the application's packages are known to work.
"""

import argparse
import sys
import time
import urllib.error
import urllib.request


def answer(url, timeout):
    """(status, first line of the body) of one GET, or (None, the error)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(500).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(500).decode(errors="replace")
    except (OSError, ValueError) as error:
        return None, str(error)


def wait_until_ok(url, wait, *, timeout=3.0, interval=0.2):
    """Polls `url` until it answers 200: (True, last answer) or (False, last answer)."""
    deadline = time.monotonic() + wait
    while True:
        status, body = answer(url, timeout)
        if status == 200:
            return True, (status, body)
        if time.monotonic() >= deadline:
            return False, (status, body)
        time.sleep(interval)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=60, help="seconds in all (default 60)")
    parser.add_argument("--timeout", type=float, default=3, help="seconds per attempt")
    args = parser.parse_args(argv)
    ok, (status, body) = wait_until_ok(args.url, args.wait, timeout=args.timeout)
    if not ok:
        print(f"{args.url}: not 200 within {args.wait:g} s: {status} {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
