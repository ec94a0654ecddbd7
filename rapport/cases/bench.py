"""`rapport bench cases`: case rules on response.completed, and the agent inbox at 100,000 open
cases in one unit.

Everything runs in a child process on a throwaway SQLite database in a temporary directory,
migrated by `rapport migrate` (the user's database is never touched), with the production task
backend (django_tasks_db: an enqueued case signal is a row in the same transaction).

- "case rules on response.completed": the cases subscriber (rapport.cases.triggers) called the
  way a respondent's submit calls it — one response per call, each in a savepoint of an
  enclosing transaction, as emit() runs subscribers inside the emitter's transaction (the commit
  is the response's, not the rules') — over 20,000 responses (× scale) of 12 branches with the
  default rules, a quarter of them detractors whose signals are queued. Three figures: the rule
  evaluation alone (active rules + matching), the whole subscriber (recovery link, rules,
  queueing), and the whole subscriber fed 500 responses per call (an import). Each is given per
  wall-clock second and per CPU-second of the process (SQLite runs in it too), since the
  machine is shared. The baseline is the same loop without the rule cache (rules loaded and
  validated on every call); ratio = cached / uncached.
- "agent inbox, 100,000 open cases": server time of the `cases:inbox` view (Django's test client
  in-process: middleware, view, queries, template), as an agent of the unit, per tab, p50 and
  p95 over 20 requests after a warm-up, with the query count. The baseline is the same page of a
  unit with 1,000 open cases, so the ratio shows how much the page grows with the unit's size.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rapport.core.bench import Result, register, result

RESPONSES = 20_000  # × scale
INBOX_CASES = 100_000  # × scale
SMALL_INBOX = 1_000
BRANCHES = 12
AGENTS_PER_BRANCH = 10
BATCH = 500
COMMIT_EVERY = 1000  # responses per outer transaction
REPEATS = 40
TABS = ("mine", "all", "due_soon", "breached")

CHILD = (
    "import json, os, sys\n"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'rapport.settings')\n"
    "import django\n"
    "django.setup()\n"
    "from rapport.cases.bench import child\n"
    "print(json.dumps(child(json.loads(sys.argv[1]))))\n"
)


def _env(db: Path, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        RAPPORT_VAR_DIR=str(var),
        RAPPORT_SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        RAPPORT_DEBUG="0",
        RAPPORT_LOG_LEVEL="WARNING",
        RAPPORT_ALLOWED_HOSTS="testserver,localhost",
        RAPPORT_TASK_BACKEND="django_tasks_db.DatabaseBackend",
    )
    return env


@register("cases")
def cases_bench(options: dict[str, Any]) -> list[Result]:
    scale = float(options.get("scale", 1.0))
    stderr = options.get("stderr")
    args = {
        "responses": max(500, int(RESPONSES * scale)),
        "inbox": max(2_000, int(INBOX_CASES * scale)),
    }
    with tempfile.TemporaryDirectory(prefix="rapport-bench-cases-") as tmp:
        db, var = Path(tmp) / "bench.sqlite3", Path(tmp) / "var"
        var.mkdir()
        env = _env(db, var)
        subprocess.run(
            [sys.executable, "-m", "rapport", "migrate", "--noinput"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError("cases bench failed:\n" + done.stderr[-4000:])
        data = json.loads(done.stdout.strip().splitlines()[-1])
    if stderr is not None:
        stderr.write(json.dumps(data, indent=2))
    rules, inbox = data["rules"], data["inbox"]
    cached, uncached = rules["cached"], rules["uncached"]
    labels = {
        "evaluation": "case rules evaluated on response.completed, one response per call",
        "single": "whole cases subscriber per response.completed (recovery link, rules, queueing "
        "the detractors' signals), one response per call",
        "batch": f"whole cases subscriber, {BATCH} responses per call (an import)",
    }
    out = []
    for key, label in labels.items():
        out.append(
            result(
                f"{label} (responses/s; per CPU-second: {cached[key]['cpu_per_s']:,.0f}, "
                f"without the cache {uncached[key]['cpu_per_s']:,.0f})",
                cached[key]["wall_per_s"],
                "responses/s",
                ">= 2000",
                uncached[key]["wall_per_s"],
            )
        )
    for tab in TABS:
        big, small = inbox["big"][tab], inbox["small"][tab]
        out.append(
            result(
                f"agent inbox ({tab}), {inbox['cases']:,} open cases: p95 server time "
                f"({big['queries']} queries; p50 {big['p50']:.1f} ms)",
                big["p95"],
                "ms",
                "< 100",
                small["p95"],
            )
        )
    return out


# --- the child process ------------------------------------------------------------------------


def child(args: dict[str, Any]) -> dict[str, Any]:
    from django.test.utils import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        units, agents = _org()
        rules = _rules_bench(units, args["responses"])
        inbox = _inbox_bench(units, agents, args["inbox"])
    return {"rules": rules, "inbox": inbox}


def _org() -> tuple[list[Any], dict[int, list[Any]]]:
    from django.contrib.auth.models import User

    from rapport.org.models import OrgUnit, Staff

    tz = "Asia/Taipei"
    root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise", time_zone=tz)
    units = [
        OrgUnit.objects.create(
            code=f"branch-{i:02d}", name=f"Branch {i}", kind="branch", parent=root, time_zone=tz
        )
        for i in range(BRANCHES)
    ]
    agents: dict[int, list[Any]] = {}
    for u in units:
        for j in range(AGENTS_PER_BRANCH):
            user = User.objects.create(username=f"{u.code}-a{j}")
            agents.setdefault(u.pk, []).append(
                Staff.objects.create(
                    user=user, code=user.username, display_name=user.username, unit=u
                )
            )
    return units, agents


def _customers(n: int, unit: Any, prefix: str) -> list[int]:
    from rapport.customers.models import Customer

    made = Customer.objects.bulk_create(
        [
            Customer(display_name=f"{prefix}{i}", email=f"{prefix}{i}@bench.test", home_unit=unit)
            for i in range(n)
        ],
        batch_size=5000,
    )
    return [c.pk for c in made]


def _payloads(units: list[Any], n: int) -> list[dict[str, Any]]:
    """Completed-response payloads as rapport.surveys.actions.completed_payload makes them:
    a quarter detractors (they fire the NPS rule), the rest passives and promoters."""
    import random

    rng = random.Random(2026)
    customers: list[int] = []
    for u in units:
        customers += _customers(n // len(units) + 1, u, f"r{u.code}-")
    payloads = []
    for i in range(n):
        score = rng.choice([0, 3, 5, 6]) if i % 4 == 0 else rng.choice([7, 8, 9, 10])
        klass = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
        payloads.append(
            {
                "response_id": 10_000_000 + i,
                "survey_id": 1,
                "survey_name": "After service",
                "survey_kind": "nps",
                "customer_id": customers[i],
                "touchpoint_id": None,
                "staff_id": None,
                "unit_id": units[i % len(units)].pk,
                "channel": "email",
                "language": "zh-hant",
                "completed_at": "2026-11-25T10:00:00+08:00",
                "scores": {"nps_score": score, "nps_class": klass, "csat": None, "ces": None},
            }
        )
    return payloads


def _rates(n: int, wall: float, cpu: float) -> dict[str, float]:
    return {"wall_per_s": n / wall, "cpu_per_s": n / max(cpu, 1e-9)}


def _run_rules(payloads: list[dict[str, Any]], per_call: int) -> dict[str, float]:
    """Responses per second (wall clock and per CPU-second of this process, which runs SQLite
    too) through the whole cases subscriber, and the signals it queued."""
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from rapport.cases import triggers

    before = DBTaskResult.objects.count()
    wall, cpu = time.perf_counter(), time.process_time()
    for outer in range(0, len(payloads), COMMIT_EVERY):
        # The subscriber runs inside the emitter's transaction, in a savepoint (core.events.emit):
        # the commit belongs to the response being saved, not to the rules.
        with transaction.atomic():
            for start in range(outer, min(outer + COMMIT_EVERY, len(payloads)), per_call):
                with transaction.atomic():
                    batch: list[Any] = payloads[start : start + per_call]
                    triggers.on_responses_completed("response.completed", batch)
    out = _rates(len(payloads), time.perf_counter() - wall, time.process_time() - cpu)
    out["queued"] = DBTaskResult.objects.count() - before
    return out


def _run_evaluation(payloads: list[dict[str, Any]]) -> dict[str, float]:
    """Responses per second through the rule evaluation alone (the active rules from the cache
    or the database, matched against one response at a time), without the queueing."""
    from rapport.cases import triggers

    wall, cpu = time.perf_counter(), time.process_time()
    fired = 0
    for payload in payloads:
        fired += len(triggers.signals_for_responses([payload]))
    out = _rates(len(payloads), time.perf_counter() - wall, time.process_time() - cpu)
    out["fired"] = fired
    return out


def _rules_bench(units: list[Any], n: int) -> dict[str, Any]:
    from rapport.cases import triggers

    payloads = _payloads(units, n)
    _run_rules(payloads[:200], 1)  # warm-up: connections, imports, the cache
    measured = {
        "cached": {
            "evaluation": _run_evaluation(payloads),
            "single": _run_rules(payloads, 1),
            "batch": _run_rules(payloads, BATCH),
        }
    }
    original = triggers.active_specs
    triggers.active_specs = triggers.load_specs  # the uncached path, as before the cache
    try:
        measured["uncached"] = {
            "evaluation": _run_evaluation(payloads),
            "single": _run_rules(payloads, 1),
            "batch": _run_rules(payloads, BATCH),
        }
    finally:
        triggers.active_specs = original
    return {"responses": n, **measured}


def _open_cases(unit: Any, owners: list[Any], n: int) -> None:
    """n open cases in the unit, one per customer, in every open state, owners round-robin."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from rapport.cases.models import Case

    customers = _customers(n, unit, f"i{unit.code}-")
    now = timezone.now()
    open_states = ["new", "acknowledged", "in_progress", "awaiting_customer", "awaiting_approval"]
    rows = []
    for i, customer_id in enumerate(customers):
        due = now + dt.timedelta(minutes=(i * 7919) % 20_000 - 2_000)
        rows.append(
            Case(
                customer_id=customer_id,
                subject=f"Case {i}: noise after service",
                source="survey",
                severity="medium",
                priority=("p1", "p2", "p3", "p4")[i % 4],
                unit=unit,
                owner=owners[i % len(owners)],
                state=open_states[i % len(open_states)],
                opened_at=now - dt.timedelta(minutes=i),
                assigned_at=now - dt.timedelta(minutes=i),
                ack_due_at=due,
                response_due_at=due,
                resolve_due_at=due + dt.timedelta(days=2),
                resolve_breached_at=now if i % 50 == 0 else None,
                sla_next_at=due,
            )
        )
    Case.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _time_inbox(user: Any, repeats: int = REPEATS) -> dict[str, dict[str, float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    url = reverse("cases:inbox")
    # Setting up 100,000 cases left this process a heap a server process would not carry: collect
    # it now, so a collector pause over the set-up's garbage is not timed as the inbox's.
    gc.collect()
    out = {}
    for tab in TABS:
        for _ in range(2):
            warm = client.get(url, {"tab": tab})
            assert warm.status_code == 200, warm.status_code
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            client.get(url, {"tab": tab})
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url, {"tab": tab})
        times.sort()
        out[tab] = {
            "p50": times[len(times) // 2],
            "p95": times[min(len(times) - 1, int(0.95 * len(times)))],
            "queries": len(queries.captured_queries),
        }
    return out


def _inbox_bench(units: list[Any], agents: dict[int, list[Any]], n: int) -> dict[str, Any]:
    big, small = units[0], units[1]
    _open_cases(big, agents[big.pk], n)
    _open_cases(small, agents[small.pk], SMALL_INBOX)
    return {
        "cases": n,
        "big": _time_inbox(agents[big.pk][0].user),
        "small": _time_inbox(agents[small.pk][0].user),
    }
