"""What each load-bench row costs inside Django, without a server or a network (not a test).

    .venv/bin/python bench/request_cost.py                 # 500 requests a row
    .venv/bin/python bench/request_cost.py --only history

The load bench (bench/load.py) measures shares of the floor under gunicorn; this
explains them. Each row's requests are made by calling the project's WSGI
application in this process, as gunicorn's worker does, on the same data and
with the same tokens, and the CPU time this process spends per request is
printed with its multiple of the floor's. PostgreSQL's own CPU is not in it (it
is another process), nor is the server's and the load generator's: under load
those add roughly the same to every row, which is why a row at k times the
floor's CPU here reaches more than 1/k of the floor's rate there.
"""

import argparse
import io
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analytics import DEFAULT_URL
from bench.load import prepare, selected


def wsgi_caller(application):
    """A function making one request through `application`; returns the status code."""

    def call(method, path, body, token):
        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "application/json",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        if body:
            environ["CONTENT_TYPE"] = "application/json"
            environ["CONTENT_LENGTH"] = str(len(body))
        if token:
            environ["HTTP_AUTHORIZATION"] = f"Token {token}"
        statuses = []
        response = application(environ, lambda status, headers, *_: statuses.append(status))
        try:
            b"".join(response)
        finally:
            getattr(response, "close", lambda: None)()
        return int(statuses[0].split()[0])

    return call


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=500, help="measured requests a row")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="rows whose name contains TEXT (default: the floors, the reads and POST)",
    )
    args = parser.parse_args()
    only = args.only or ["floor", "/products/", "/purchases/user/", "POST"]

    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "request-cost-bench-" + "x" * 40)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_CONN_MAX_AGE", "600")
    credentials, window, cleanup = prepare(args.database_url, clients=1)
    from django.core.wsgi import get_wsgi_application

    call = wsgi_caller(get_wsgi_application())
    floor_cpu = None
    try:
        for _, (name, method, path_of, body_of, who, _) in selected(only, window):
            rng = random.Random(1)

            def run(count, rng=rng, method=method, path_of=path_of, body_of=body_of, who=who):
                token, me = credentials[who][0]
                statuses = []
                for _ in range(count):
                    body = json.dumps(body_of(rng, me)).encode() if body_of else b""
                    statuses.append(call(method, path_of(rng, me), body, token))
                return statuses

            statuses = run(max(20, args.requests // 10))  # warm-up
            started = time.process_time()
            statuses += run(args.requests)
            cpu = (time.process_time() - started) / args.requests
            floor_cpu = floor_cpu or cpu
            failed = sum(not 200 <= status < 300 for status in statuses)
            print(
                f"{name:40} {cpu * 1000:6.2f} ms CPU a request  {cpu / floor_cpu:5.1f}x the floor"
                + (f"  ({failed} not 2xx)" if failed else ""),
                flush=True,
            )
    finally:
        cleanup()


if __name__ == "__main__":
    main()
