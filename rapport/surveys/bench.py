"""`rapport bench surveys`: answering surveys through a real server, and scheduling a big wave.

A gunicorn process (rapport.core.serving's command and settings) serves a fresh, migrated SQLite
database in a temporary directory, holding a published one-page survey and N invitations. A load
generator — 50 client threads with keep-alive http.client connections over loopback — submits
one complete response per invitation, paced to 300 responses/s; one in twenty is submitted twice
at once, as a double click would. Reported:

- "response submit p99": latency from each request's scheduled time to its answer (so a server
  that falls behind pays for the queue), the same from the moment each request was sent, and the
  achieved rate; the baseline is a static file served by the same server at the same rate and
  concurrency.
- "responses stored exactly once": completed responses counted in the database afterwards,
  against N (must be equal: the duplicates stored nothing).
- "survey page render p95": the server's own time for GET /s/<token>/ from gunicorn's access log
  (millisecond resolution), 4 clients at 50 pages/s so that it measures rendering rather than a
  queue; the baseline is the static file's server time.
- "wave scheduling": rapport.surveys.waves.schedule_wave over 1,000,000 customers (× scale) with
  the contact rules (consent opt-outs, quarantine, no address) in play, in a child process.

Bounded in count and in time: a fixed number of requests, then everything stops.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rapport.core import serving
from rapport.core.bench import Result, register, result
from rapport.integrations.bench import _env, _free_port, _rapport, _wait_until_up

CLIENTS = 50
RATE = 300.0  # responses per second
RESPONSES = 6_000  # × scale
PAGE_VIEWS = 1_000  # × scale
PAGE_RATE, PAGE_CLIENTS = 50.0, 4  # render time, measured below saturation
WAVE_CUSTOMERS = 1_000_000  # × scale
DOUBLE_SUBMIT_EVERY = 20
# Two processes (two cores), many threads each: a submit waits on the write lock without the GIL,
# and the more submits a process has waiting, the more rapport.surveys.writer commits together.
# Measured at --scale 0.5 (same hour, loaded box): 2 × 8 threads 240-270 submits/s, p99 1.2-3 s;
# 2 × 16 298/s, p99 120-340 ms; 2 × 32 290/s, p99 500 ms; 4 × 4 and 4 × 2 slower.
SERVER_WORKERS = 2
SERVER_THREADS = 16
DEADLINE_SECONDS = 600


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class _Load:
    """Paced requests from CLIENTS threads: request i is due at start + i / rate."""

    def __init__(self, port: int, rate: float, clients: int = CLIENTS) -> None:
        self.port = port
        self.rate = rate
        self.clients = clients
        self.lock = threading.Lock()
        self.latencies: list[float] = []  # from the scheduled time (a queue counts)
        self.service: list[float] = []  # from the moment the request was sent
        self.failures: list[str] = []

    def run(self, requests: list[tuple[str, str, bytes | None]], deadline: float) -> float:
        """Send every (method, path, body); returns the seconds taken."""
        position = iter(range(len(requests)))
        start = time.perf_counter() + 0.2

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            while True:
                with self.lock:
                    i = next(position, None)
                if i is None or time.monotonic() > deadline:
                    break
                due = start + i / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                method, path, body = requests[i]
                headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
                sent = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    with self.lock:
                        self.failures.append(f"{method} {path}: {exc}")
                    continue
                done = time.perf_counter()
                with self.lock:
                    self.latencies.append(done - due)
                    self.service.append(done - sent)
                    if response.status >= 400:
                        self.failures.append(f"{method} {path}: HTTP {response.status}")
            conn.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        return time.perf_counter() - start


def _server_times(log: Path, method: str, prefix: str, skip: int = 0) -> list[float]:
    """Milliseconds of each logged `method` request whose path starts with `prefix`, after the
    first `skip` bytes of the log (the warm-up)."""
    out = []
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(skip)
        for line in fh:
            parts = line.split('"')
            if len(parts) < 3:
                continue
            request = parts[1].split(" ")
            fields = parts[2].split()
            if (
                len(request) >= 2
                and request[0] == method
                and request[1].startswith(prefix)
                and fields
                and fields[-1].endswith("ms")
            ):
                out.append(float(fields[-1][:-2]))
    return out


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "rapport.surveys.bench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _answering(var_dir: Path, responses: int, views: int, say: Any) -> list[Result]:
    env = _env(var_dir)
    _rapport(env, "migrate", "-v", "0")
    _rapport(env, "collectstatic", "--noinput", "-v", "0")
    setup = _child(env, "setup", str(responses), str(views))
    port = _free_port()
    log = var_dir / "access.log"
    command = serving.server_command(f"127.0.0.1:{port}", SERVER_WORKERS, SERVER_THREADS)
    command = [*command[:-1], "--access-logfile", str(log), "--error-logfile", "-", command[-1]]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    static = "/static/rapport/rapport.css"
    try:
        _wait_until_up(port, server, time.monotonic() + 60)
        deadline = time.monotonic() + DEADLINE_SECONDS
        warm = _Load(port, RATE)
        warm.run([("GET", static, None)] * 200, deadline)
        warm.run([("GET", f"/s/{t}/", None) for t in setup["views"][:40]], deadline)
        time.sleep(0.5)
        warmed = log.stat().st_size if log.exists() else 0

        say(f"survey page: {len(setup['views'])} GETs at {PAGE_RATE:.0f}/s…")
        pages = _Load(port, PAGE_RATE, PAGE_CLIENTS)
        pages.run([("GET", f"/s/{t}/", None) for t in setup["views"]], deadline)

        say(f"static baseline: {responses} GETs at {RATE:.0f}/s…")
        base = _Load(port, RATE)
        base.run([("GET", static, None)] * responses, deadline)

        say(f"submitting {responses} responses at {RATE:.0f}/s from {CLIENTS} clients…")
        body = "page=1&q_recommend={score}&q_why=bench+answer+{n}"
        submits = []
        for n, token in enumerate(setup["tokens"]):
            form = body.format(score=n % 11, n=n).encode()
            submits.append(("POST", f"/s/{token}/", form))
            if n % DOUBLE_SUBMIT_EVERY == 0:
                submits.append(("POST", f"/s/{token}/", form))  # a double click
        load = _Load(port, RATE)
        seconds = load.run(submits, deadline)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    problems = pages.failures + base.failures + load.failures
    if problems:
        raise RuntimeError(f"{len(problems)} requests failed, e.g. " + "; ".join(problems[:3]))
    stored = _child(env, "count", str(setup["survey"]))
    page_ms = _server_times(log, "GET", "/s/", warmed)
    static_ms = _server_times(log, "GET", static, warmed)
    p99 = 1000 * _percentile(load.latencies, 0.99)
    base_p99 = 1000 * _percentile(base.latencies, 0.99)
    return [
        result("response submit p99", p99, "ms", "< 50", baseline=base_p99),
        result(
            "response submit p99 (from send)",
            1000 * _percentile(load.service, 0.99),
            "ms",
            "< 50",
            baseline=1000 * _percentile(base.service, 0.99),
        ),
        result("response submit rate", len(submits) / seconds, "requests/s", ">= 300"),
        result(
            "responses stored exactly once",
            stored["completed"],
            "responses",
            f"== {responses}",
            baseline=responses,
        ),
        result(
            "survey page render p95 (server)",
            _percentile(page_ms, 0.95),
            "ms",
            "< 20",
            baseline=_percentile(static_ms, 0.95),
        ),
    ]


def _wave(var_dir: Path, customers: int, say: Any) -> list[Result]:
    env = _env(var_dir)
    _rapport(env, "migrate", "-v", "0")
    say(f"wave: {customers:,} customers with contact rules…")
    timing = _child(env, "wave", str(customers))
    return [
        result(
            "wave scheduling",
            timing["seconds"],
            "s",
            "< 60",
            baseline=timing["baseline_seconds"],
        )
    ]


@register("surveys")
def surveys_bench(options: dict[str, Any]) -> list[Result]:
    scale = float(options.get("scale", 1.0))
    stderr = options.get("stderr")

    def say(text: str) -> None:
        if stderr:
            stderr.write(text)

    responses = max(50, round(RESPONSES * scale))
    views = max(50, round(PAGE_VIEWS * scale))
    with tempfile.TemporaryDirectory(prefix="rapport-bench-surveys-") as tmp:
        out = _answering(Path(tmp) / "answering", responses, views, say)
        if _has_waves():
            out += _wave(Path(tmp) / "wave", max(1_000, round(WAVE_CUSTOMERS * scale)), say)
        else:
            say("wave scheduling: rapport.surveys.waves.schedule_wave is not there; left out")
    return out


def _has_waves() -> bool:
    try:
        from rapport.surveys import waves
    except ImportError:
        return False
    return hasattr(waves, "schedule_wave")


# --- what the child processes do (each owns the bench database) ------------------------------


def _setup(responses: int, views: int) -> dict[str, Any]:
    """A unit, a published one-page survey (NPS + why) and the invitations and their tokens."""
    from django.db import transaction

    from rapport.org.models import OrgUnit
    from rapport.surveys import actions
    from rapport.surveys.library import NPS

    with transaction.atomic():
        root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise")
        survey = actions.create_survey_from_template("custom", "Bench NPS")
        first, why = NPS["questions"][0], NPS["questions"][1]
        actions.save_question(survey, None, {**first, "page": 1})
        actions.save_question(survey, None, {**why, "page": 1})
        version = actions.publish_survey(survey)
        tokens = [
            actions.create_invitation(version, channel="link", unit=root)[1]
            for _ in range(responses + views)
        ]
    return {"survey": survey.pk, "tokens": tokens[:responses], "views": tokens[responses:]}


def _count(survey_id: int) -> dict[str, Any]:
    from django.db.models import Count

    from rapport.surveys.models import Answer, Invitation, Response

    completed = Response.objects.filter(survey_id=survey_id, state="completed")
    per_invitation = (
        completed.values("invitation_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    return {
        "completed": completed.count(),
        "responses": Response.objects.filter(survey_id=survey_id).count(),
        "doubled_invitations": per_invitation,
        "invitations_completed": Invitation.objects.filter(
            survey_id=survey_id, status="completed"
        ).count(),
        "answers": Answer.objects.filter(response__survey_id=survey_id).count(),
    }


def _wave_timing(customers: int) -> dict[str, Any]:
    """Customers with a mix of contact facts, a wave to all of them, and schedule_wave timed.

    The baseline is a plain `SELECT id` over the same customers (the segment's floor)."""
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from rapport.customers.models import Consent, Customer
    from rapport.org.models import OrgUnit
    from rapport.surveys import actions, waves
    from rapport.surveys.models import Invitation, Wave

    root = OrgUnit.objects.create(code="bench", name="Bench", kind="enterprise")
    units = [
        OrgUnit.objects.create(code=f"b{i}", name=f"Branch {i}", kind="branch", parent=root)
        for i in range(12)
    ]
    now = timezone.now()
    chunk = 50_000
    with transaction.atomic():
        for start in range(0, customers, chunk):
            Customer.objects.bulk_create(
                [
                    Customer(
                        display_name=f"c{n}",
                        email=f"c{n}@bench.example" if n % 10 else "",
                        phone=f"+88690{n:07d}" if n % 3 == 0 else "",
                        home_unit=units[n % len(units)],
                    )
                    for n in range(start, min(start + chunk, customers))
                ],
                batch_size=5_000,
            )
        ids = list(Customer.objects.order_by("id").values_list("id", flat=True))
        Consent.objects.bulk_create(
            [
                Consent(customer_id=c, channel="email", purpose="survey", granted=False)
                for c in ids[::25]
            ],
            batch_size=5_000,
        )
        survey = actions.create_survey_from_template("csi", "Wave CSI", publish=True)
        version = actions.live_version(survey)
        Invitation.objects.bulk_create(
            [
                Invitation(
                    version=version,
                    survey=survey,
                    customer_id=c,
                    channel="email",
                    status="sent",
                    scheduled_for=now - dt.timedelta(days=5),
                    sent_at=now - dt.timedelta(days=5),
                )
                for c in ids[1::40]
            ],
            batch_size=5_000,
        )
        wave = Wave.objects.create(
            name="bench wave", survey=survey, channel="email", sample_rate=0.5, seed=1
        )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM customers_customer")
        cursor.fetchall()
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    report = waves.schedule_wave(wave)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "baseline_seconds": baseline,
        "report": report.as_dict() if hasattr(report, "as_dict") else str(report),
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    django.setup()
    what = sys.argv[1]
    if what == "setup":
        answer = _setup(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "count":
        answer = _count(int(sys.argv[2]))
    else:
        answer = _wave_timing(int(sys.argv[2]))
    print(json.dumps(answer, default=str))
