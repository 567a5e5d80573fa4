"""gunicorn in a process of its own, for the live-server tests and the load bench."""

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.process = subprocess.Popen(
            [*command, "--log-level", "warning"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "DJANGO_SETTINGS_MODULE": settings,
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "DJANGO_LOG_LEVEL": "WARNING",
                **(env or {}),
            },
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        self.wait_ready(ready_path)

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
