"""Backups: deploy/postgresql/restore-drill.sh run as an operator runs it, and the units it
stands for.

The drill makes its own scratch cluster (initdb, loopback ports, its own pgBackRest
repository), so it needs the PostgreSQL server binaries and pgbackrest, not the test
database; it runs in the PostgreSQL pass of the suite only (once per CI run).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from end_to_end.servers import DEPLOY

PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
DRILL = DEPLOY / "postgresql/restore-drill.sh"


def test_the_restore_drill_restores_exactly_the_purchases_before_t(postgres_only):
    if shutil.which("pgbackrest") is None:
        pytest.skip("no pgbackrest (apt-get install pgbackrest; .ci/run installs it)")
    if not (PG_BINDIR / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {PG_BINDIR}")
    before = set(Path("/tmp").glob("shop-restore-drill.*"))
    done = subprocess.run(
        ["bash", str(DRILL), "--before", "12", "--after", "7"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr

    assert done.returncode == 0, output
    assert "exactly the 12 purchases committed before T (none of the 7 after)" in output
    assert "rebuild_sales_totals --check clean" in output
    assert re.search(
        r"restore-drill: OK: backup [\d.]+ s, restore to a point in time [\d.]+ s", output
    )
    print(output)  # the measured times, in the test's report (-s / on failure)
    assert set(Path("/tmp").glob("shop-restore-drill.*")) <= before, "the drill left its directory"


def test_the_backup_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze (apt-get install systemd)")
    for unit in (DEPLOY / "postgresql").glob("shop-backup*"):
        shutil.copy(unit, tmp_path / unit.name)
    if not Path("/usr/bin/pgbackrest").exists():
        pytest.skip("no pgbackrest (apt-get install pgbackrest; .ci/run installs it)")
    for name in (
        "shop-backup@full.service",
        "shop-backup@incr.service",
        "shop-backup-full.timer",
        "shop-backup-incr.timer",
    ):
        done = subprocess.run(
            [analyze, "verify", "--man=no", name],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"},
        )
        output = (done.stdout + done.stderr).strip()
        assert done.returncode == 0 and not output, (name, output)
