"""The units of deploy/systemd/ run the way systemd runs them, for the tests (CI has no systemd).

`Systemd(state_dir, paths)` reads a unit file as systemd does (sections, repeated keys,
the specifiers %i %I %n %t %S %H %%), builds its environment as systemd does (nothing
inherited but a default PATH; `Environment=` lines, then `EnvironmentFile=` files, which
override them) and runs its commands: `ExecStartPre=`; `ExecStart=` in a process group of
its own, the stand-in for the unit's cgroup (`Type=notify`: started once it sends READY=1
on `$NOTIFY_SOCKET`); `ExecStartPost=`. Stopping sends `KillSignal=` to the main process
only (`KillMode=mixed`) or to the whole group (`control-group`), waits `TimeoutStopSec=`,
then SIGKILLs whatever is left of the group. `RuntimeDirectory=` and `StateDirectory=` are
made under the mapped %t and %S. `User=` is not switched to (the tests run as one user).

The host's paths in the units (/srv/shop/current, /etc/shop, /var/lib, /run) are mapped to
the test's by prefix (`paths`). Standard library only, and a command too, so that
deploy/release.py can restart a unit that a test started:

    python end_to_end/units.py --state DIR restart shop-web@8001
    python end_to_end/units.py --state DIR exec shop-web@8001 /srv/shop/current/.venv/bin/python \
        manage.py check

(`exec` runs a command with a unit's environment and directory, as deploy/shop-manage does
with systemd-run.)
"""

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SETUP = "setup.json"
TIME_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}


class UnitError(RuntimeError):
    pass


def parse_unit_file(text):
    """{section: {key: [values in order]}}, as systemd reads a unit file."""
    sections, current, pending = {}, None, ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise UnitError(f"not a unit file line: {raw!r}")
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_environment_file(text):
    """KEY=VALUE lines (comments, blank lines, a value wholly in single or double quotes)."""
    found = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if raw.strip().split("=", 1)[1].strip().startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value)
        found[key.strip()] = value
    return found


def seconds(value):
    """A systemd time span ("45", "90s", "2min", "500ms") in seconds."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * TIME_UNITS[unit or "s"]
    return total


def alive(pid):
    """Whether `pid` runs (a zombie, dead but not reaped by its parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_alive(pgid):
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


class Service:
    """A unit of deploy/systemd/, instantiated (`shop-web@8001`), with the test's paths."""

    def __init__(self, systemd, name):
        self.systemd, self.name = systemd, name
        template, self.instance = name, ""
        if "@" in name:
            prefix, rest = name.split("@", 1)
            self.instance, suffix = rest.rsplit(".", 1) if "." in rest else (rest, "service")
            template = f"{prefix}@.{suffix}"
        elif not name.endswith(".service"):
            template = f"{name}.service"
        self.full_name = name if "." in name.split("@")[-1] else f"{name}.service"
        self.path = systemd.units / template
        self.sections = parse_unit_file(self.path.read_text())
        self.service = self.sections["Service"]

    # --- Reading the unit ----------------------------------------------------------

    def values(self, key):
        return [self.specified(value) for value in self.service.get(key, [])]

    def value(self, key, default=None):
        values = self.values(key)
        return values[-1] if values else default

    def specified(self, text):
        """`text` with the unit's specifiers resolved (and host paths mapped)."""
        table = {
            "i": self.instance,
            "I": self.instance,
            "n": self.full_name,
            "t": str(self.systemd.runtime_root),
            "S": str(self.systemd.state_root),
            "H": self.systemd.hostname,
            "%": "%",
        }
        text = re.sub(r"%(.)", lambda match: table[match.group(1)], text)
        return self.systemd.mapped(text)

    def environment(self):
        """The environment systemd gives the service's commands."""
        env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", "HOME": str(self.systemd.home)}
        for line in self.values("Environment"):
            for assignment in shlex.split(line):
                key, _, value = assignment.partition("=")
                env[key] = value
        for path in self.values("EnvironmentFile"):
            optional = path.startswith("-")
            path = Path(path.lstrip("-"))
            if optional and not path.exists():
                continue
            env.update(parse_environment_file(path.read_text()))
        return env

    def command(self, line, env):
        """A command line's argv: prefixes dropped, `${VAR}` and `$VAR` expanded as systemd does."""
        line = line.lstrip("-@+!:")
        argv = []
        for word in shlex.split(line):
            whole = re.fullmatch(r"\$(\w+)", word)
            if whole:  # $VAR alone is split on whitespace
                argv += env.get(whole.group(1), "").split()
                continue
            argv.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
        return argv

    # --- Running it ----------------------------------------------------------------

    def make_directories(self):
        for key, root in (
            ("RuntimeDirectory", self.systemd.runtime_root),
            ("StateDirectory", self.systemd.state_root),
        ):
            if key == "StateDirectory" and not self.systemd.make_state_directories:
                continue
            for names in self.values(key):
                for name in names.split():
                    (root / name).mkdir(parents=True, exist_ok=True)

    def run_commands(self, key, env, timeout):
        for line in self.values(key):
            if "$MAINPID" in line:
                env = {**env, "MAINPID": str(self.pid())}
            done = subprocess.run(
                self.command(line, env),
                env=env,
                cwd=self.value("WorkingDirectory", "/"),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if done.returncode != 0 and not line.startswith("-"):
                raise UnitError(f"{self.name}: {key} failed: {line}\n{done.stdout}{done.stderr}")

    def start(self):
        """Starts the service as `systemctl start` does; returns once it is started."""
        if self.pid() and alive(self.pid()):
            raise UnitError(f"{self.name} is running already")
        env = self.environment()
        timeout = seconds(self.value("TimeoutStartSec", "90"))
        self.make_directories()
        self.run_commands("ExecStartPre", env, timeout)
        notify = None
        if self.value("Type", "simple") == "notify":
            path = self.systemd.state_dir / f"notify-{self.name}.sock"
            path.unlink(missing_ok=True)
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(str(path))
            env = {**env, "NOTIFY_SOCKET": str(path)}
        log = (self.systemd.state_dir / f"{self.name}.log").open("ab")
        (main,) = self.values("ExecStart")
        process = subprocess.Popen(
            self.command(main, env),
            env=env,
            cwd=self.value("WorkingDirectory", "/"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.systemd.processes[self.name] = process
        self.record(process.pid)
        try:
            if notify is not None:
                self.wait_ready(notify, process, timeout)
            self.run_commands("ExecStartPost", env, timeout)
        except BaseException:
            self.stop()
            raise
        finally:
            if notify is not None:
                notify.close()
        return self

    def wait_ready(self, notify, process, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise UnitError(f"{self.name} exited before it was ready:\n{self.log()}")
            notify.settimeout(0.2)
            try:
                message = notify.recv(4096).decode()
            except TimeoutError:
                continue
            if "READY=1" in message.split("\n"):
                return
        raise UnitError(f"{self.name}: no READY=1 within {timeout} s")

    def reload(self):
        self.run_commands("ExecReload", self.environment(), 30)

    def stop(self):
        """Stops the service as `systemctl stop` does: (its exit status or None, seconds taken)."""
        pid = self.pid()
        started = time.monotonic()
        if not pid:
            return None, 0.0
        kill_signal = getattr(signal, self.value("KillSignal", "SIGTERM"))
        with contextlib.suppress(ProcessLookupError):
            if self.value("KillMode", "control-group") == "mixed":
                os.kill(pid, kill_signal)
            else:
                os.killpg(pid, kill_signal)
        timeout = seconds(self.value("TimeoutStopSec", "90"))
        process = self.systemd.processes.pop(self.name, None)
        if process is not None and process.pid != pid:  # restarted by another process since
            process.poll()  # reaps it
            process = None
        status = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                status = process.returncode
                break
            if process is None and not alive(pid):
                break
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):  # what is left of the "cgroup"
            os.killpg(pid, signal.SIGKILL)
        if process is not None and status is None:
            process.wait(timeout=10)
        for names in self.values("RuntimeDirectory"):
            for name in names.split():
                with contextlib.suppress(OSError):
                    for leftover in (self.systemd.runtime_root / name).iterdir():
                        leftover.unlink()
                    (self.systemd.runtime_root / name).rmdir()
        self.record(None)
        return status, time.monotonic() - started

    def restart(self):
        self.stop()
        return self.start()

    def execute(self, argv):
        """Runs `argv` as the unit's commands run (its environment, directory), as
        `systemd-run -p EnvironmentFile=… --working-directory=…` does: its exit status."""
        env = self.environment()
        done = subprocess.run(
            self.command(shlex.join(self.systemd.mapped(word) for word in argv), env),
            env=env,
            cwd=self.value("WorkingDirectory", "/"),
        )
        return done.returncode

    # --- Its state ----------------------------------------------------------------

    def record(self, pid):
        path = self.systemd.state_dir / f"{self.name}.pid"
        if pid is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(str(pid))

    def pid(self):
        path = self.systemd.state_dir / f"{self.name}.pid"
        return int(path.read_text()) if path.exists() else None

    def log(self):
        path = self.systemd.state_dir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Systemd:
    """Runs units of `units` (deploy/systemd/) with the host's paths mapped by `paths`.

    Its state (pids, logs, notify sockets) lives in `state_dir`, so that another process
    (`units.py --state DIR restart NAME`) can stop and start what this one started.
    """

    def __init__(self, state_dir, *, units, paths, hostname="localhost", make_state=True):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.units = Path(units)
        self.paths = dict(sorted(paths.items(), key=lambda item: -len(item[0])))
        self.hostname = hostname
        self.make_state_directories = make_state
        self.runtime_root = self.state_dir / "run"
        self.state_root = Path(self.mapped("/var/lib/"))
        self.home = self.state_dir / "home"
        self.home.mkdir(exist_ok=True)
        self.processes = {}
        (self.state_dir / SETUP).write_text(
            json.dumps(
                {
                    "units": str(self.units),
                    "paths": self.paths,
                    "hostname": hostname,
                    "make_state": make_state,
                }
            )
        )

    @classmethod
    def from_state(cls, state_dir):
        setup = json.loads((Path(state_dir) / SETUP).read_text())
        return cls(
            state_dir,
            units=setup["units"],
            paths=setup["paths"],
            hostname=setup["hostname"],
            make_state=setup["make_state"],
        )

    def mapped(self, text):
        """`text` with each host path replaced by the test's (longest prefix first)."""
        for host, here in self.paths.items():
            text = re.sub(rf"(?<![\w/.-]){re.escape(host)}", here.replace("\\", "\\\\"), text)
        return text

    def service(self, name):
        return Service(self, name)

    def start(self, name):
        return self.service(name).start()

    def stop_all(self):
        """Stops every service started from this state directory (the test's teardown)."""
        for pid_file in self.state_dir.glob("*.pid"):
            self.service(pid_file.stem).stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description="systemctl for the tests' units")
    parser.add_argument("--state", required=True, help="the state directory of a Systemd")
    parser.add_argument("action", choices=["start", "stop", "restart", "reload", "exec"])
    parser.add_argument("unit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="exec: a command to run")
    args = parser.parse_args(argv)
    service = Systemd.from_state(args.state).service(args.unit)
    if args.action == "exec":
        return service.execute(args.command)
    try:
        getattr(service, args.action)()
    except UnitError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
