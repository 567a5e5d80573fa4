"""A rolling release: the new code serves, one instance at a time, with no request lost.

    python3 /srv/shop/releases/NEW/deploy/release.py --release /srv/shop/releases/NEW \\
        --current /srv/shop/current --env-file /etc/shop/shop.env \\
        --nginx-conf /etc/shop/nginx.conf --restart 'systemctl restart shop-web@{port}' \\
        --then 'systemctl restart shop-worker@1' --then 'systemctl restart shop-beat'

Run on the nginx host, as root, once NEW is unpacked, its virtualenv installed and its
static files collected (deploy/README.md, "Releasing"). In order:

1. `manage.py check --deploy` and `migrate`, with NEW's code and the environment file,
   while the old code still serves (its migrations must let it:
   shop/tests/test_migrations.py holds them to that); then `fill_email_keys` gives the
   accounts their email's key (a migration may only add the column). Two accounts that
   are one address stop the release here, named, before any instance is restarted.
2. `--current`, the link the units run from, now points at NEW.
3. For each instance of nginx's configuration in turn: render it `down` and reload nginx
   (new requests go to the others), wait until nginx's old workers have finished with
   it, run `--restart` (`{address}`, `{host}` and `{port}` are filled in), wait until its
   /readyz answers 200, render it back and reload. An instance that does not become
   ready stops the release there, left out of nginx; the others still serve the old code.
4. The `--then` commands (the workers, beat), one after the other.
5. The sales totals: purchases written by the old code after `migrate` (the migration
   that introduced the totals could not count them) leave them drifting; once no old
   code runs, `rebuild_sales_totals --check` finds any drift and `rebuild_sales_totals`
   recomputes them.
6. What the old code wrote in its own form meanwhile, now that none runs:
   `fill_email_keys` (the accounts it created or whose email it changed) and
   `seal_idempotency_keys` (its Idempotency-Key rows).

Its management commands run here (`--python`, `--env-file`), or on an application host
through `--manage` (`ssh 10.0.0.11 shop-manage --release NEW`). `--no-migrate` skips the
migrations (rolling back to the previous release, whose code runs on the newer schema).
Standard library only.
"""

import argparse
import contextlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
sys.path.insert(0, str(DEPLOY))

import probe  # noqa: E402 (deploy/probe.py, beside this file)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ReleaseError(RuntimeError):
    pass


def load_renderer():
    spec = importlib.util.spec_from_file_location("shop_nginx_render", DEPLOY / "nginx/render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load_renderer()


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] release: {message}", flush=True)


def read_environment_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, whole quotes)."""
    found = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key.strip()] = value
    return found


class Release:
    def __init__(self, args):
        self.args = args
        self.release = Path(args.release).resolve()
        self.python = args.python or str(self.release / ".venv/bin/python")
        self.env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
        if args.env_file:
            self.env.update(read_environment_file(args.env_file))
        self.nginx = args.nginx or shutil.which("nginx", path=f"{DEFAULT_PATH}:{os.defpath}")
        self.conf = Path(args.nginx_conf)

    # --- Steps ------------------------------------------------------------------------

    def manage(self, *arguments, check=True):
        """Runs a management command of the new release: (exit status, its standard output).

        Here, with `--python` and `--env-file`; or through `--manage` (another host's
        `shop-manage --release …`), followed by the command's arguments.
        """
        started = time.monotonic()
        if self.args.manage:
            command = f"{self.args.manage} {shlex.join(arguments)}"
            done = subprocess.run(command, shell=True, capture_output=True, text=True)
        else:
            done = subprocess.run(
                [self.python, "manage.py", *arguments],
                cwd=self.release,
                env=self.env,
                capture_output=True,
                text=True,
            )
        if check and done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise ReleaseError(f"manage.py {' '.join(arguments)} failed:\n{output}")
        say(f"manage.py {' '.join(arguments)} ({time.monotonic() - started:.1f} s)")
        return done.returncode, done.stdout.strip()

    def prepare(self):
        self.manage("check", "--deploy", "--fail-level", "WARNING")
        if self.args.migrate:
            self.manage("migrate", "--noinput")
            self.fill_email_keys()

    def fill_email_keys(self):
        _, output = self.manage("fill_email_keys")
        say(output.splitlines()[-1] if output else "email keys filled")

    def switch_current(self):
        if not self.args.current:
            return
        link = Path(self.args.current)
        temporary = link.with_name(f".{link.name}.new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(self.release)
        os.replace(temporary, link)  # atomic: the link is always one release or the other
        say(f"{link} -> {self.release}")

    # --- nginx --------------------------------------------------------------------------

    def nginx_command(self, *options):
        prefix = render.recorded_arguments(self.conf)["prefix"]
        files = ["-p", f"{prefix}/", "-e", f"{prefix}/logs/error.log", "-c", str(self.conf)]
        return [self.nginx, *files, *options]

    def nginx_workers(self):
        """nginx's worker processes now (the children of its master)."""
        prefix = render.recorded_arguments(self.conf)["prefix"]
        master = int(Path(prefix, "nginx.pid").read_text())
        return {pid for pid, parent in processes() if parent == master}

    def render_with(self, down):
        text = render.render(**render.recorded_arguments(self.conf), down=sorted(down))
        render.write(text, self.conf)
        tested = subprocess.run(self.nginx_command("-t", "-q"), capture_output=True, text=True)
        if tested.returncode != 0:
            raise ReleaseError(f"nginx -t refused the configuration: {tested.stderr}")

    def reload_nginx(self, drain):
        """Reloads nginx; with `drain`, waits until its old workers have finished and gone."""
        old = self.nginx_workers()
        subprocess.run(self.nginx_command("-s", "reload"), check=True, capture_output=True)
        if not drain:
            return
        deadline = time.monotonic() + self.args.drain_timeout
        while any(alive(pid) for pid in old):
            if time.monotonic() > deadline:
                say(f"nginx's old workers still busy after {self.args.drain_timeout:g} s; going on")
                return
            time.sleep(0.05)

    # --- The roll ------------------------------------------------------------------------

    def roll(self):
        upstreams = [
            render.upstream_address(upstream)
            for upstream in render.recorded_arguments(self.conf)["upstreams"]
        ]
        down = set(render.down_upstreams(self.conf))
        serving = [address for address in upstreams if address not in down]
        for address in sorted(down):
            say(f"{address} is down in nginx: left as it is (not restarted)")
        if len(serving) < 2:
            raise ReleaseError(
                f"a rolling release needs two instances in nginx; it has {len(serving)}"
            )
        for address in serving:
            started = time.monotonic()
            self.render_with(down | {address})
            self.reload_nginx(drain=True)
            say(f"{address} out of nginx, its requests finished")
            host, port = address.rsplit(":", 1)
            command = self.args.restart.format(address=address, host=host, port=port)
            restarted = subprocess.run(command, shell=True, capture_output=True, text=True)
            if restarted.returncode != 0:
                raise ReleaseError(
                    f"{command!r} failed; {address} stays out of nginx:\n"
                    f"{restarted.stdout}{restarted.stderr}"
                )
            ready, (status, body) = probe.wait_until_ok(
                f"http://{address}/readyz", self.args.ready_timeout
            )
            if not ready:
                raise ReleaseError(
                    f"{address} not ready within {self.args.ready_timeout:g} s ({status} {body});"
                    " it stays out of nginx"
                )
            self.render_with(down)
            self.reload_nginx(drain=False)
            say(f"{address} restarted, ready, back in nginx ({time.monotonic() - started:.1f} s)")

    def then(self):
        for command in self.args.then:
            done = subprocess.run(command, shell=True, capture_output=True, text=True)
            if done.returncode != 0:
                raise ReleaseError(f"{command!r} failed:\n{done.stdout}{done.stderr}")
            say(command)

    def sales_totals(self):
        status, output = self.manage("rebuild_sales_totals", "--check", check=False)
        summary = output.splitlines()[-1] if output else ""
        if status == 0:
            say(f"the sales totals agree with the purchases: {summary}")
            return
        if status != 1 or not summary:
            raise ReleaseError(f"rebuild_sales_totals --check failed:\n{output}")
        say(f"the sales totals drifted (old code wrote purchases meanwhile): {summary}")
        _, output = self.manage("rebuild_sales_totals")
        say(output.splitlines()[-1] if output else "rebuilt")

    def previous_release_rows(self):
        """Rows the old code wrote in its own form while it served beside the new code."""
        self.fill_email_keys()
        _, output = self.manage("seal_idempotency_keys")
        say(output.splitlines()[-1] if output else "idempotency keys sealed")

    def run(self):
        started = time.monotonic()
        self.prepare()
        self.switch_current()
        self.roll()
        self.then()
        self.sales_totals()
        self.previous_release_rows()
        say(f"done in {time.monotonic() - started:.1f} s")


def processes():
    """(pid, parent pid) of every process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found.append((int(stat.parent.name), int(fields[1])))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", required=True, help="the new release's directory")
    parser.add_argument("--current", help="the link the units run from, pointed at --release")
    parser.add_argument("--env-file", help="the processes' environment (/etc/shop/shop.env)")
    parser.add_argument("--python", help="default: RELEASE/.venv/bin/python")
    parser.add_argument(
        "--manage",
        help="runs manage.py elsewhere, e.g. 'ssh 10.0.0.11 shop-manage --release DIR'",
    )
    parser.add_argument("--nginx-conf", required=True, help="rendered by deploy/nginx/render.py")
    parser.add_argument("--nginx", help="the nginx binary (default: found on PATH)")
    parser.add_argument(
        "--restart",
        default="systemctl restart shop-web@{port}",
        help="restarts one instance: {address}, {host}, {port} (default: %(default)s)",
    )
    parser.add_argument(
        "--then", action="append", default=[], help="a command run after the roll; repeat"
    )
    parser.add_argument("--no-migrate", dest="migrate", action="store_false")
    parser.add_argument("--drain-timeout", type=float, default=60)
    parser.add_argument("--ready-timeout", type=float, default=90)
    args = parser.parse_args(argv)
    say(f"{shlex.join(sys.argv[1:] if argv is None else argv)}")
    try:
        Release(args).run()
    except (ReleaseError, subprocess.CalledProcessError) as error:
        say(f"STOPPED: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
