"""The reference topology (deploy/) in processes of their own, for the live tests and the bench.

`Server` (gunicorn), `Nginx` (deploy/nginx/ in front of servers), `Replica` (a streaming
replica made by deploy/postgresql/make-replica.sh) and `CeleryWorker`. Each starts from
the project's own configuration files, waits until it is ready (within a timeout) and
stops without leaving a process or a directory behind.
"""

import contextlib
import http.client
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(database_url, settings="shop.settings", extra=None):
    """The environment of an app process as production runs it (but on plain HTTP, loopback).

    Reports read the test database itself unless `extra` names a real replica: the test
    run's own `DATABASE_REPLICA_URL` names the database the tests were made from.
    """
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_REPLICA_URL": database_url,
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


def group_members(pgid):
    """The live (not zombie) processes of process group `pgid`, as pids."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name is in parentheses and may hold spaces: split after it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            state, group = fields[0], int(fields[2])
            if group == pgid and state not in ("Z", "X"):
                members.append(int(stat.parent.name))
    return members


def kill_group(process, sig=signal.SIGKILL, timeout=30):
    """Signals the process group `process` leads, and reaps its leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


def wait_for(condition, timeout, interval=0.1, message="condition"):
    """Polls `condition()` until it is true (returns its value) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message}: not within {timeout} s")
        time.sleep(interval)


class Server:
    """gunicorn with `gunicorn.conf.py` and production settings (on plain HTTP), on loopback.

    `workers` and `threads` override the configuration file's when given.

    It runs in its own process group, so that `kill()` takes the master and its
    workers alike. `ready_path` is requested until it answers 200, so that a
    worker has booted before the caller starts measuring or testing.
    """

    def __init__(
        self,
        database_url,
        *,
        workers=None,
        threads=None,
        settings="shop.settings",
        ready_path="/api/schema/",
        env=None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "shop.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
        ]
        if workers is not None:
            command += ["--workers", str(workers)]
        if threads is not None:
            command += ["--threads", str(threads)]
        # A file, not a pipe: nobody reads the log while the server runs, and a full
        # pipe would block the workers mid-request.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        # The workers' metrics files, in a directory this object removes: a server killed
        # outright never runs gunicorn.conf.py's on_exit, which removes one it made itself.
        self.metrics_dir = None
        if "PROMETHEUS_MULTIPROC_DIR" not in (env or {}):
            self.metrics_dir = tempfile.mkdtemp(prefix="shop-test-metrics-")
            env = {**(env or {}), "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
        self.process = subprocess.Popen(
            [*command, "--log-level", "warning"],
            cwd=ROOT,
            env=production_env(database_url, settings, env),
            stdout=self.log,  # the access log, when GUNICORN_ACCESS_LOG=1
            stderr=self.log,
            start_new_session=True,
        )
        self.wait_ready(ready_path)

    def output(self):
        """What gunicorn and the app have written so far (access log and log lines).

        Read without moving the file's offset, which gunicorn's processes share and write at.
        """
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def wait_ready(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode(errors='replace')}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not answer {path} on {self.url}")

    def kill(self, sig=signal.SIGKILL):
        """Signals the master and its workers (the whole process group this server started)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        else:
            with contextlib.suppress(ProcessLookupError):  # workers left behind, if any
                os.killpg(self.process.pid, sig)
        self.log.close()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def load_nginx_renderer():
    """deploy/nginx/render.py, the one renderer of the nginx configuration (not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_nginx_render", DEPLOY / "nginx/render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nginx_binary():
    """The nginx executable, or None (Debian installs it in /usr/sbin, off a user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class Nginx:
    """nginx with deploy/nginx/shop.conf.template in front of `upstreams`, on a free loopback port.

    `upstreams` are gunicorn addresses (`"127.0.0.1:8001"`) or ports. With `tls` (a
    certificate and key file) it also ends TLS on `tls_port` and plain HTTP only redirects
    there; `trusted_proxies` are front proxies whose X-Forwarded-* headers it believes.
    Everything nginx writes (pid, logs, temp files) stays in a prefix directory of its
    own, removed by `stop()`; nothing under /etc/nginx or /var/log/nginx is read or
    written. It runs in the foreground in its own process group, so that `stop()` takes
    its workers too.
    """

    def __init__(self, upstreams, *, tls=None, trusted_proxies=(), timeout=30):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("no nginx (apt-get install nginx-light)")
        renderer = load_nginx_renderer()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_port = free_port() if tls else None
        self.prefix = Path(tempfile.mkdtemp(prefix="shop-nginx-"))
        # nginx's workers drop root for the user of the configuration: they must reach
        # the temp directories inside the prefix.
        self.prefix.chmod(0o755)
        renderer.prepare_prefix(self.prefix)
        addresses = [f"127.0.0.1:{u}" if isinstance(u, int) else str(u) for u in upstreams]
        self.config = renderer.render(
            listen=f"127.0.0.1:{self.port}",
            upstreams=addresses,
            prefix=self.prefix,
            user=self.worker_user(),
            tls_listen=f"127.0.0.1:{self.tls_port}" if tls else None,
            tls_cert=tls and tls[0],
            tls_key=tls and tls[1],
            trusted_proxies=trusted_proxies,
        )
        self.binary = binary
        self.config_path = self.prefix / "nginx.conf"
        self.config_path.write_text(self.config)
        self.error_log = self.prefix / "logs/error.log"
        self.access_log = self.prefix / "logs/access.log"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as nginx)
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        try:
            wait_for(self.accepts, timeout, message=f"nginx on {self.url}")
            if tls:
                wait_for(lambda: self.accepts(self.tls_port), timeout, message="nginx's TLS")
        except Exception:
            self.stop()
            raise

    def command(self, *options):
        """An nginx command line for this nginx's files (`-s reload`, `-t`)."""
        return [
            self.binary,
            "-p",
            f"{self.prefix}/",
            "-e",
            str(self.error_log),
            "-c",
            str(self.config_path),
            *options,
        ]

    @staticmethod
    def worker_user():
        """Debian's web user where there is one: `nobody`'s group is not `nobody` there."""
        try:
            pwd.getpwnam("www-data")
        except KeyError:
            return "nobody"
        return "www-data"

    def accepts(self, port=None):
        if self.process.poll() is not None:
            self.log.seek(0)
            output = self.log.read().decode(errors="replace")
            errors = self.error_log.read_text() if self.error_log.exists() else ""
            raise RuntimeError(f"nginx exited: {output}{errors}")
        address = ("127.0.0.1", port or self.port)
        with contextlib.suppress(OSError), socket.create_connection(address, 1):
            return True
        return False

    def setting(self, name):
        """The value of directive `name` in the rendered configuration (its first occurrence)."""
        match = re.search(rf"^\s*{re.escape(name)}\s+([^;]+);", self.config, re.MULTILINE)
        if match is None:
            raise KeyError(name)
        return match.group(1).strip()

    def seconds(self, name):
        """A time directive (`10s`, `1m`, `500ms`) in seconds."""
        value = self.setting(name)
        number, unit = re.fullmatch(r"(\d+)(ms|s|m|h)?", value).groups()
        return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[unit]

    def stop(self):
        """Fast shutdown (SIGTERM), then SIGKILL for anything left; removes the prefix."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        kill_group(self.process)
        self.log.close()
        shutil.rmtree(self.prefix, ignore_errors=True)


def as_postgres(command, **options):
    """Runs `command` as the postgres OS user (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


class Replica:
    """A streaming replica of a running primary, made by deploy/postgresql/make-replica.sh.

    It lives in a fresh temp directory on a free loopback port, logs the statements
    it runs (`log_statement`, "all" by default) and is ready when the primary's
    `pg_stat_replication` shows it streaming and it accepts connections. A replica
    holds up replay while one of its transactions still reads a table the primary
    rewrites (a test's TRUNCATE at teardown): query it in autocommit (`connect()`).
    """

    SCRIPT = DEPLOY / "postgresql/make-replica.sh"
    STATEMENT = re.compile(
        r"^\S+ \S+ \S+ \[\d+\] (?P<user>\S*)@(?P<database>\S*) LOG:  statement: (?P<text>.*)$"
    )
    LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")

    def __init__(
        self,
        primary_url="postgres://postgres@127.0.0.1:5432/postgres",
        *,
        log_statement="all",
        settings=(),
        timeout=120,
    ):
        primary = urlsplit(primary_url)
        self.primary_url = primary._replace(path="/postgres").geturl()
        self.port = free_port()
        self.name = f"shop_test_replica_{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="shop-replica-"))
        self.log_path = self.dir / "log/postgresql.log"
        command = [
            "bash",
            str(self.SCRIPT),
            "--primary-host",
            primary.hostname or "127.0.0.1",
            "--primary-port",
            str(primary.port or 5432),
            "--primary-user",
            primary.username or "postgres",
            "--port",
            str(self.port),
            "--name",
            self.name,
            "--log-statement",
            log_statement,
        ]
        for setting in settings:
            command += ["--set", setting]
        env = {**os.environ}
        if primary.password:
            env["PGPASSWORD"] = primary.password
        try:
            made = subprocess.run(
                [*command, str(self.dir)], capture_output=True, text=True, env=env, timeout=timeout
            )
            if made.returncode != 0:
                raise RuntimeError(f"make-replica.sh failed: {made.stdout}{made.stderr}")
            wait_for(self.streaming, timeout, interval=0.2, message=f"replica {self.name}")
        except BaseException:
            self.stop()
            raise

    def binary(self, name):
        """A PostgreSQL binary of the replica's major version (as make-replica.sh picks it)."""
        major = (self.dir / "PG_VERSION").read_text().strip()
        path = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
        return str(path) if path.exists() else shutil.which(name)

    def url(self, dbname):
        """A URL for database `dbname` on the replica."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname="postgres"):
        """A psycopg connection to the replica, in autocommit (see the class's docstring)."""
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def primary(self):
        """A psycopg connection to the primary's `postgres` database, in autocommit."""
        return psycopg.connect(self.primary_url, autocommit=True, connect_timeout=5)

    def streaming(self):
        """True once the primary streams to this replica and the replica takes queries."""
        with self.primary() as primary:
            row = primary.execute(
                "select state from pg_stat_replication where application_name = %s", [self.name]
            ).fetchone()
        if row is None or row[0] != "streaming":
            return False
        with contextlib.suppress(psycopg.OperationalError), self.connect() as replica:
            return replica.execute("select pg_is_in_recovery()").fetchone()[0]
        return False

    def wait_caught_up(self, timeout=10):
        """Waits until the replica has replayed all the WAL the primary has written so far."""
        with self.primary() as primary:
            target = primary.execute("select pg_current_wal_lsn()").fetchone()[0]
        with self.connect() as replica:

            def replayed():
                query = "select pg_last_wal_replay_lsn() >= %s::pg_lsn"
                return replica.execute(query, [str(target)]).fetchone()[0]

            wait_for(replayed, timeout, interval=0.05, message=f"replica replaying {target}")

    def log_offset(self):
        """The log's current size: pass it to `statements(since=…)` to see only what follows."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def statements(self, dbname=None, since=0):
        """The statements the replica logged (in database `dbname`, or all), in order."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        found, current = [], None
        for line in lines:
            match = self.STATEMENT.match(line)
            if match:
                current = match if dbname in (None, match["database"]) else None
                if current:
                    found.append(match["text"])
            elif current and not self.LOG_LINE.match(line):
                found[-1] += "\n" + line  # a statement of several lines
            else:
                current = None
        return found

    def stop(self):
        """Stops the replica at once (it holds nothing worth a clean shutdown), removes its dir."""
        if (self.dir / "postmaster.pid").exists():
            pg_ctl = self.binary("pg_ctl")
            with contextlib.suppress(subprocess.SubprocessError):
                as_postgres([pg_ctl, "-D", str(self.dir), "stop", "-m", "immediate"], timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class CeleryWorker:
    """`celery -A shop worker` (prefork) on `broker_url`, with the app's production environment.

    It runs in its own process group, so that `kill()` takes the main process and its
    pool alike; its output goes to a temp file, not a pipe (a full pipe would block it).
    Ready when it answers a ping by its node name.
    """

    def __init__(
        self,
        database_url,
        broker_url,
        *,
        concurrency=1,
        settings="shop.settings",
        loglevel="warning",
        env=None,
        timeout=60,
    ):
        self.broker_url = broker_url
        self.nodename = f"shop-test-{secrets.token_hex(4)}@127.0.0.1"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "shop",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                loglevel,
                "--hostname",
                self.nodename,
            ],
            cwd=ROOT,
            env=production_env(
                database_url, settings, {"CELERY_BROKER_URL": broker_url, **(env or {})}
            ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(self.ready, timeout, interval=0.2, message=f"celery worker {self.nodename}")
        except BaseException:
            self.kill()
            raise

    def control(self):
        """A Celery app on the broker only, to talk to the worker from the test's process.

        Not the current app: `shared_task`s of the test's process must stay on the
        project's app (eager there), not be sent to this broker.
        """
        from celery import Celery

        app = Celery("shop-tests-control", broker=self.broker_url, set_as_current=False)
        app.conf.broker_connection_timeout = 2
        return app

    def ping(self, timeout=1.0):
        """The worker's answer to a ping (`[{nodename: {"ok": "pong"}}]`), or `[]`."""
        app = self.control()
        try:
            return app.control.ping(destination=[self.nodename], timeout=timeout)
        finally:
            app.close()

    def ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"celery worker exited: {self.output()}")
        return bool(self.ping())

    def output(self):
        """What the worker has written so far (its log)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def processes(self):
        """The live processes of the worker's group (the main process and its pool)."""
        return group_members(self.process.pid)

    def kill(self, sig=signal.SIGKILL):
        """Signals the whole group (main process and pool), and reaps the main process."""
        kill_group(self.process, sig)

    def stop(self, timeout=20):
        """Warm shutdown (SIGTERM: running tasks finish), then SIGKILL for anything left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        kill_group(self.process)
        self.log.close()


class FrozenRedis:
    """A redis-server of its own on a free loopback port, which `freeze()` stops with SIGSTOP.

    Frozen, it still accepts TCP connections (the kernel completes them into the listen
    backlog) but never answers: a broker hung, or half-open behind a dead NAT.
    `thaw()` (SIGCONT) lets it answer again; `stop()` ends it.
    """

    def __init__(self, timeout=30):
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(self.answers, timeout, message=f"redis-server on port {self.port}")
        except BaseException:
            self.stop()
            raise

    def answers(self):
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def freeze(self):
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot act on TERM
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
