"""`rapport bench ingest`: file import speed against a raw executemany, and peak memory.

Everything runs on throwaway SQLite databases in a temporary directory, set up by `rapport
migrate` in a subprocess (the user's database is never touched). The import is timed as a user
sees it: the wall time of the `rapport import touchpoints` process. The baseline inserts the very
same rows into the same table of a fresh copy with one sqlite3 `executemany`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rapport.core.bench import Result, register, result

ROWS = 200_000
BIG_ROWS = 5_000_000
TZ = dt.timezone(dt.timedelta(hours=8))
KINDS = ("service_visit", "purchase", "inquiry", "payment", "web_visit", "claim", "renewal")
CHANNELS = ("branch", "phone", "web", "app", "email")
UNITS = [f"branch-{i:02d}" for i in range(12)]
STAFF = [f"advisor-{i:03d}" for i in range(120)]
SETUP = """
from rapport.org.models import OrgUnit, Staff
tz = "Asia/Taipei"
root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise", time_zone=tz)
units = [OrgUnit.objects.create(code=c, name=c, kind="branch", parent=root, time_zone=tz)
         for c in {units!r}]
Staff.objects.bulk_create([Staff(code=s, display_name=s, unit=units[i % len(units)])
                           for i, s in enumerate({staff!r})])
"""
PRAGMAS = (
    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
    "PRAGMA busy_timeout=30000;PRAGMA temp_store=MEMORY;PRAGMA cache_size=-65536;"
)


def _env(db: Path, var: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        RAPPORT_VAR_DIR=str(var),
        RAPPORT_SECRET_KEY="bench-only",
        RAPPORT_LOG_LEVEL="WARNING",
    )
    return env


def _rapport(args: list[str], db: Path, var: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rapport", *args],
        env=_env(db, var),
        capture_output=True,
        text=True,
        check=True,
    )


def _checkpoint(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _copy(template: Path, name: str) -> Path:
    target = template.with_name(name)
    shutil.copyfile(template, target)
    return target


def write_touchpoints(path: Path, rows: int, customers: int, seed: int) -> None:
    """A realistic touchpoint CSV: local times with offset, amounts, a context column."""
    rnd = random.Random(seed)
    start = dt.datetime(2020, 1, 1, tzinfo=TZ)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "external_id", "customer_external_id", "occurred_at", "kind", "channel", "unit",
                "staff", "amount", "currency", "context.visit_type",
            ]
        )  # fmt: skip
        for i in range(rows):
            when = start + dt.timedelta(seconds=rnd.randrange(150_000_000))
            kind = KINDS[i % len(KINDS)]
            paid = kind in ("purchase", "payment", "service_visit")
            out.writerow(
                [
                    f"tp-{i}", f"c-{rnd.randrange(customers)}", when.isoformat(), kind,
                    CHANNELS[i % len(CHANNELS)], UNITS[i % len(UNITS)], STAFF[i % len(STAFF)],
                    f"{rnd.randrange(100, 9_000_000) / 100:.2f}" if paid else "",
                    "TWD" if paid else "", "regular" if i % 3 else "",
                ]
            )  # fmt: skip


def write_customers(path: Path, customers: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["external_id", "name", "unit"])
        for i in range(customers):
            out.writerow([f"c-{i}", f"Customer {i}", UNITS[i % len(UNITS)]])


def raw_rows(path: Path, db: Path) -> list[tuple[Any, ...]]:
    """The rows `rapport import` writes for this file, built ahead so only the insert is timed."""
    con = sqlite3.connect(db)
    customers = dict(con.execute("SELECT external_id, customer_id FROM customers_customeridentity"))
    units = dict(con.execute("SELECT code, id FROM org_orgunit"))
    staff = dict(con.execute("SELECT code, id FROM org_staff"))
    (source,) = con.execute("SELECT id FROM customers_sourcesystem WHERE code='bench'").fetchone()
    con.close()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ")
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            when = dt.datetime.fromisoformat(r["occurred_at"]).astimezone(dt.UTC)
            ctx = {"visit_type": r["context.visit_type"]} if r["context.visit_type"] else {}
            rows.append(
                (
                    customers[r["customer_external_id"]], when.replace(tzinfo=None).isoformat(" "),
                    r["channel"], r["kind"], source, r["external_id"], units[r["unit"]],
                    staff[r["staff"]], r["amount"] or None, None, r["currency"],
                    json.dumps(ctx), now,
                )
            )  # fmt: skip
    return rows


def executemany_rate(db: Path, rows: list[tuple[Any, ...]]) -> float:
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(PRAGMAS)
    sql = (
        "INSERT INTO touchpoints_touchpoint (customer_id, occurred_at, channel, kind, source_id, "
        "external_id, unit_id, staff_id, amount, margin, currency, context, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source_id, external_id) DO NOTHING"
    )
    started = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    con.executemany(sql, rows)
    con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return len(rows) / elapsed


def import_process(file: Path, db: Path, var: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one `rapport import touchpoints` process."""
    log = var / "import.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rapport", "import", "touchpoints", str(file), "--source",
             "bench", "--no-progress"],
            env=_env(db, var), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # wait4 reports this child's own peak memory (ru_maxrss, in KiB on Linux).
        _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"import failed: {log.read_text()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


@register("ingest")
def ingest(options: dict[str, Any]) -> list[Result]:
    scale, err = options["scale"], options["stderr"]
    rows, big = max(int(ROWS * scale), 1000), max(int(BIG_ROWS * scale), 1000)
    customers = max(rows // 10, 100)
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmpdir:
        tmp = Path(tmpdir)
        template = tmp / "template.sqlite3"
        err.write(f"ingest: migrating a fresh SQLite database in {tmp} ...")
        _rapport(["migrate", "-v0"], template, tmp)
        _rapport(["shell", "-c", SETUP.format(units=UNITS, staff=STAFF)], template, tmp)
        write_customers(tmp / "customers.csv", customers)
        _rapport(["import", "customers", str(tmp / "customers.csv"), "--source", "bench",
                  "--no-progress"], template, tmp)  # fmt: skip
        _checkpoint(template)

        err.write(f"ingest: writing {rows:,} touchpoints ...")
        file = tmp / "touchpoints.csv"
        write_touchpoints(file, rows, customers, seed=1)
        err.write("ingest: rapport import touchpoints ...")
        elapsed, _mb = import_process(file, _copy(template, "import.sqlite3"), tmp)
        import_rate = rows / elapsed
        err.write(f"ingest: {import_rate:,.0f} rows/s; baseline executemany ...")
        raw = _copy(template, "raw.sqlite3")
        raw_rate = executemany_rate(raw, raw_rows(file, raw))
        err.write(f"ingest: executemany {raw_rate:,.0f} rows/s")
        file.unlink()

        err.write(f"ingest: writing {big:,} touchpoints for the memory run ...")
        bigfile = tmp / "big.csv"
        write_touchpoints(bigfile, big, max(big // 20, 100), seed=2)
        err.write("ingest: importing it (new customers created on the way) ...")
        big_elapsed, peak_mb = import_process(bigfile, _copy(template, "big.sqlite3"), tmp)
        err.write(f"ingest: {big / big_elapsed:,.0f} rows/s, peak {peak_mb:,.0f} MB")
    return [
        result(
            "rapport import touchpoints into SQLite (wall time, 200k rows × scale)",
            import_rate, "rows/s", ">= 50000 (ratio >= 0.3)", baseline=raw_rate,
        ),
        result(
            "import of a 5M-row file (× scale): peak resident memory", peak_mb, "MB", "< 500"
        ),
        result("import of a 5M-row file (× scale): speed", big / big_elapsed, "rows/s", ">= 50000"),
    ]  # fmt: skip
