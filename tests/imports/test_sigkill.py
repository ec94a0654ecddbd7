"""An import killed with SIGKILL half-way leaves the database exactly as before; the re-run
completes. Runs `rapport import` as a real process on a throwaway SQLite database."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rapport.touchpoints import bench

ROWS = 60_000
TABLES = (
    "touchpoints_touchpoint",
    "customers_customer",
    "customers_customeridentity",
    "customers_sourcesystem",
    "customers_identityreview",
)


def env_for(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{db}", RAPPORT_VAR_DIR=str(db.parent), RAPPORT_SECRET_KEY="t"
    )
    return env


def fingerprint(db: Path) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        return {
            t: hashlib.sha256(
                repr(con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()).encode()
            ).hexdigest()  # noqa: S608
            for t in TABLES
        }
    finally:
        con.close()


def read_position(pid: int, path: Path) -> int:
    """How far the process has read `path` (from /proc/PID/fdinfo), 0 before it opened it."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                return int(info.split("pos:")[1].split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fdinfo").exists(), reason="needs Linux /proc")
def test_sigkill_half_way_changes_nothing_and_the_rerun_completes(tmp_path):
    db = tmp_path / "kill.sqlite3"
    env = env_for(db)
    rapport = [sys.executable, "-m", "rapport"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*rapport, *args], env=env, check=True, capture_output=True, text=True
        )

    run("migrate", "-v0")
    run("shell", "-c", bench.SETUP.format(units=bench.UNITS, staff=bench.STAFF))
    # something already there, which must survive untouched
    small = tmp_path / "small.csv"
    bench.write_touchpoints(small, 50, 10, seed=7)
    run("import", "touchpoints", str(small), "--source", "crm")
    before = fingerprint(db)

    big = tmp_path / "big.csv"
    bench.write_touchpoints(big, ROWS, ROWS // 10, seed=8)
    size = big.stat().st_size
    args = ["import", "touchpoints", str(big), "--source", "bench"]
    proc = subprocess.Popen(
        [*rapport, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while read_position(proc.pid, big) < size * 0.4:
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert fingerprint(db) == before

    done = run(*args)
    assert f"{ROWS} created" in done.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM touchpoints_touchpoint").fetchone() == (ROWS + 50,)
    con.close()
