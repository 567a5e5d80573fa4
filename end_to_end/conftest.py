"""Fixtures of the end-to-end tests: the reference topology of deploy/ in real processes.

The live tests start the reference topology of deploy/ (README there): gunicorn
instances (`server_process`), nginx in front of them (`nginx_proxy`), a streaming
replica of the test database's server (`replica`), Redis (`redis_url`, in the root
conftest.py) and Celery workers (`celery_worker`). All PostgreSQL only: a server process
cannot share SQLite's in-memory test database.
"""

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from knox.models import AuthToken

from conftest import client_for as token_client  # noqa: F401 (the sweeps' name)
from end_to_end.servers import DEPLOY, ROOT, CeleryWorker, Nginx, Replica, Server, nginx_binary
from end_to_end.units import Systemd

# The environment of a gunicorn instance behind nginx: one proxy to trust in
# X-Forwarded-For, so that the rate limits key on the client (deploy/README.md).
BEHIND_PROXY = {"DJANGO_NUM_PROXIES": "1"}

ON_SQLITE = "needs PostgreSQL (set DATABASE_URL=postgres://...); this run is on SQLite"


def token_for(user):
    return AuthToken.objects.create(user=user)[1]


def database_url():
    """The test database as a URL, for a subprocess (transactional tests only: data committed)."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    host = f"{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}"
    return f"postgres://{s['USER']}{password}@{host}/{s['NAME']}"


def database_name():
    """The test database's name (the same on the primary and on a replica)."""
    return connection.settings_dict["NAME"]


@pytest.fixture
def server_process(postgres_only):
    """Starts servers on demand (`server_process(workers=…)`); kills them all at the end."""
    servers = []

    def start(**options):
        server = Server(database_url(), **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def nginx_proxy():
    """Starts nginx (deploy/nginx/) in front of servers: `nginx_proxy(server, …)` → `Nginx`.

    Servers are `Server`s, ports or "host:port"; start them with `env=BEHIND_PROXY`.
    Options are `Nginx`'s (`tls=(cert, key)`, `trusted_proxies=…`).
    Every nginx started is stopped at the end, its directory removed.
    """
    if nginx_binary() is None:
        pytest.skip("live test: no nginx (apt-get install nginx-light)")
    proxies = []

    def start(*servers, **options):
        proxy = Nginx([getattr(server, "port", server) for server in servers], **options)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="session")
def replica(django_db_setup):
    """A streaming replica of the test database's server, for the whole session (`Replica`).

    Made once pytest-django has created the test database, so that it holds it. Tests
    that use it are `django_db(transaction=True)`: what they commit on the primary streams
    to it (`wait_caught_up()`). It logs every statement (`statements(database_name())`).
    """
    if connection.vendor != "postgresql":
        pytest.skip(ON_SQLITE)
    made = Replica(database_url())
    yield made
    made.stop()


@pytest.fixture
def celery_worker(postgres_only, redis_url):
    """Starts Celery workers on the test database and `redis_url`: `celery_worker(…)` → worker.

    Options are `CeleryWorker`'s (`concurrency=`, `env=`, …). Tests that use it are
    `django_db(transaction=True)`, so that the worker sees their data. Every worker is
    stopped at the end (warm shutdown, then SIGKILL of its group).
    """
    workers = []

    def start(**options):
        worker = CeleryWorker(database_url(), redis_url, **options)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=10)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) file paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("live test: no openssl (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def unit_environment(systemd, **values):
    """Writes /etc/shop/shop.env for `systemd`'s units: production settings, the test database.

    `values` add to or override the defaults; returns the environment written.
    """
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url(),
        "DATABASE_REPLICA_URL": database_url(),
        "DJANGO_MEDIA_ROOT": str(systemd.state_root / "shop/media"),
        "DJANGO_STATIC_ROOT": str(systemd.state_root / "shop/static"),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        **values,
    }
    lines = [f"{key}='{value}'" if " " in value else f"{key}={value}" for key, value in env.items()]
    Path(systemd.mapped("/etc/shop/shop.env")).write_text("\n".join(lines) + "\n")
    return env


@pytest.fixture
def systemd(tmp_path):
    """deploy/systemd/'s units, run as systemd would (`end_to_end.units`), on the test's paths.

    /srv/shop/current is a link to this checkout (its .venv the running interpreter's),
    /etc/shop and /var/lib are directories of the test's; `unit_environment(systemd, …)`
    writes /etc/shop/shop.env. Every service started is stopped at the end.
    """
    current = tmp_path / "srv-shop-current"
    current.symlink_to(ROOT)
    etc, var_lib = tmp_path / "etc-shop", tmp_path / "var-lib"
    etc.mkdir()
    var_lib.mkdir()
    manager = Systemd(
        tmp_path / "systemd",
        units=DEPLOY / "systemd",
        paths={
            "/srv/shop/current/.venv": sys.prefix,
            "/srv/shop/current": str(current),
            "/etc/shop": str(etc),
            "/var/lib/": f"{var_lib}/",
            "/usr/sbin/nginx": nginx_binary() or "/usr/sbin/nginx",
        },
    )
    yield manager
    manager.stop_all()
