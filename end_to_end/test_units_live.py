"""The systemd units of deploy/systemd/, started as systemd starts them (`end_to_end.units`).

There is no systemd in CI's container: each unit's `ExecStart=` runs with the environment
its `Environment=` and `EnvironmentFile=` lines make, its start waits as its `Type=` says,
and its stop signals as its `KillMode=`/`KillSignal=` say (`end_to_end/units.py`).
`systemd-analyze verify` checks every unit file where it is installed.

- two web instances on one host, each with its own gunicornc control socket: stopping
  one leaves the other's (gunicorn's default was one path for both, deleted by the first
  to stop); a plain `gunicorn` run makes none; a request under way when an instance is
  stopped is answered;
- a worker stopped mid-import finishes its job first;
- beat starts where its schedule's directory does not exist yet;
- nginx starts, reloads and stops from its unit.
"""

import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from end_to_end.conftest import token_for, unit_environment
from end_to_end.servers import DEPLOY, ROOT, Server, free_port, load_nginx_renderer, wait_for
from end_to_end.units import Systemd, parse_unit_file, seconds

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
APP_UNITS = [unit for unit in UNITS if unit.name != "shop-nginx.service"]


def get(port, path, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def status_of(port, path):
    """The status of GET `path`, or None while nothing answers."""
    try:
        return get(port, path, timeout=5)[0]
    except (OSError, http.client.HTTPException, ValueError):
        return None


def control_command(socket_path, command):
    """A gunicornc command on `socket_path`: its JSON answer, or None if nothing listens."""
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn.ctl.cli", "-s", str(socket_path), "-c", command, "-j"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(done.stdout) if done.returncode == 0 else None


# --- The unit files -------------------------------------------------------------------


def test_the_units_pass_systemd_analyze_verify(tmp_path):
    """Copies whose host paths point at this checkout, so that the executables exist."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    copies = Systemd(
        tmp_path / "state",
        units=DEPLOY / "systemd",
        paths={
            "/srv/shop/current/.venv": sys.prefix,
            "/srv/shop/current": str(ROOT),
            "/usr/sbin/nginx": shutil.which("nginx", path="/usr/sbin:/usr/bin") or "/bin/true",
        },
    )
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(copies.mapped(unit.read_text()))
        name = unit.name.replace("@.", "@1.")
        done = subprocess.run(
            [analyze, "verify", "--man=no", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
            unit.name,
            done.stdout + done.stderr,
        )


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_unit_restarts_on_failure_and_stops_gracefully(unit):
    service = parse_unit_file(unit.read_text())["Service"]

    assert service["Restart"] == ["on-failure"]
    # The signal reaches the main process only, which stops its children in order.
    assert service["KillMode"] == ["mixed"]
    expected = "SIGQUIT" if unit.name == "shop-nginx.service" else "SIGTERM"
    assert service["KillSignal"] == [expected]
    if unit.name.startswith("shop-web@"):
        assert seconds(service["TimeoutStopSec"][0]) > 30, "longer than gunicorn's graceful 30 s"
    if unit.name.startswith("shop-worker@"):
        assert seconds(service["TimeoutStopSec"][0]) >= 600, "an import takes minutes"


@pytest.mark.parametrize("unit", APP_UNITS, ids=lambda unit: unit.name)
def test_every_app_unit_runs_the_current_release_with_the_shared_environment(unit):
    service = parse_unit_file(unit.read_text())["Service"]

    assert service["EnvironmentFile"] == ["/etc/shop/shop.env"]
    assert service["WorkingDirectory"] == ["/srv/shop/current"]
    assert service["ExecStart"][0].startswith("/srv/shop/current/.venv/bin/")
    assert service["User"] == ["shop"]


def test_the_example_environment_names_only_variables_the_project_reads():
    from end_to_end.units import parse_environment_file

    example = parse_environment_file((DEPLOY / "systemd/shop.env.example").read_text())
    documented = (ROOT / "README.md").read_text()
    for name in example:
        if name != "CELERY_CONCURRENCY":  # read by the worker's unit itself
            assert f"`{name}`" in documented, name


def test_shop_manage_says_how_to_use_it_when_given_no_command():
    script = DEPLOY / "shop-manage"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=30)

    assert done.returncode == 2
    assert "shop-manage [--release DIR] COMMAND" in done.stderr


# --- Live: gunicorn ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_web_instances_each_have_their_own_control_socket(
    postgres_only, systemd, hanging_server
):
    host, port = hanging_server
    # A hanging broker makes /readyz a request that lasts 1.5 s: one under way at a stop.
    unit_environment(systemd, CELERY_BROKER_URL=f"redis://{host}:{port}/0")
    first_port, second_port = free_port(), free_port()
    first = systemd.start(f"shop-web@{first_port}")
    systemd.start(f"shop-web@{second_port}")
    sockets = [
        systemd.runtime_root / f"shop-web-{port}/gunicorn.ctl" for port in (first_port, second_port)
    ]

    assert get(first_port, "/healthz") == (200, {"status": "alive"})
    assert get(second_port, "/healthz")[0] == 200
    assert all(path.is_socket() for path in sockets)
    for path in sockets:
        assert len(control_command(path, "show workers")["workers"]) == 1

    under_way = {}
    request = threading.Thread(target=lambda: under_way.update(answer=get(first_port, "/readyz")))
    request.start()
    time.sleep(0.5)
    status, stop_seconds = first.stop()
    request.join(timeout=30)

    assert status == 0, first.log()
    assert under_way["answer"][0] == 200, "the request under way at the stop was answered"
    assert not sockets[0].exists()
    assert sockets[1].is_socket(), "the other instance keeps its socket"
    assert len(control_command(sockets[1], "show workers")["workers"]) == 1
    assert get(second_port, "/healthz")[0] == 200
    print(f"\nstopped with a request under way in {stop_seconds:.2f} s")


def test_plain_gunicorn_makes_no_control_socket(tmp_path):
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir()
    server = Server(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        workers=1,
        ready_path="/healthz",
        env={"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)},
    )
    try:
        assert list(home.iterdir()) == [] and list(runtime.iterdir()) == []
    finally:
        server.kill(signal.SIGTERM)


# --- Live: Celery ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_mid_import_finishes_its_job(postgres_only, systemd, redis_url, staff):
    from end_to_end.test_backfill_live import Client, catalogue

    unit_environment(systemd, CELERY_BROKER_URL=redis_url, CELERY_CONCURRENCY="1")
    web_port = free_port()
    systemd.start(f"shop-web@{web_port}")
    worker = systemd.start("shop-worker@1")
    client = Client(web_port, token_for(staff))
    rows = 100_000

    status, _, run = client.upload(catalogue("UNIT", "2.00", rows=rows))
    assert status == 202, run
    client.follow(run["id"], lambda seen: seen["status"] == "running")
    exit_status, stop_seconds = worker.stop()
    finished = client.run(run["id"])

    assert exit_status == 0, worker.log()[-2000:]
    assert finished["status"] == "succeeded", finished
    assert finished["created"] == rows
    print(f"\nthe worker stopped once its import had ended, after {stop_seconds:.2f} s")


def test_beat_starts_where_its_schedule_directory_is_missing(tmp_path):
    systemd = Systemd(
        tmp_path / "systemd",
        units=DEPLOY / "systemd",
        paths={
            "/srv/shop/current/.venv": sys.prefix,
            "/srv/shop/current": str(ROOT),
            "/etc/shop": str(tmp_path),
            "/var/lib/": f"{tmp_path / 'var-lib'}/",
        },
        make_state=False,  # as if StateDirectory= had not made it
    )
    (tmp_path / "shop.env").write_text("DJANGO_LOG_LEVEL=WARNING\n")
    schedule = tmp_path / "var-lib/shop-beat/celerybeat-schedule"
    assert not schedule.parent.exists()
    beat = systemd.start("shop-beat")
    try:
        wait_for(lambda: list(schedule.parent.glob("celerybeat-schedule*")), 30, message="schedule")
        time.sleep(1)
        assert beat.pid() and beat.systemd.processes["shop-beat"].poll() is None, beat.log()
    finally:
        status, _ = beat.stop()
    assert status == 0, beat.log()


# --- Live: nginx -------------------------------------------------------------------


def test_nginx_starts_reloads_and_stops_from_its_unit(tmp_path, systemd):
    if shutil.which("nginx", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("live test: no nginx (apt-get install nginx-light)")
    backend = Server(f"sqlite:///{tmp_path / 'db.sqlite3'}", workers=1, ready_path="/healthz")
    renderer = load_nginx_renderer()
    prefix = systemd.state_root / "shop-nginx"
    config = Path(systemd.mapped("/etc/shop/nginx.conf"))
    listen = free_port()
    upstream = f"127.0.0.1:{backend.port}"
    try:
        renderer.main(
            [
                *("--listen", f"127.0.0.1:{listen}", "--prefix", str(prefix)),
                *("--upstream", upstream, "--output", str(config)),
            ]
        )
        nginx = systemd.start("shop-nginx")
        wait_for(lambda: status_of(listen, "/healthz") == 200, 10, message="nginx in front")

        # Reloaded with its only instance down: nginx answers itself.
        renderer.main(["--from", str(config), "--down", upstream, "--output", str(config)])
        nginx.reload()
        wait_for(lambda: status_of(listen, "/healthz") == 502, 10, message="the reload")

        status, _ = nginx.stop()
        assert status == 0, nginx.log()
    finally:
        backend.kill()
