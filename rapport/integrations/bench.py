"""`rapport bench ingest` — "http batch ingest": touchpoints per second through a real server.

A gunicorn process serves a fresh SQLite database in a temporary directory (migrated first, with
an API key made by `rapport apikey create`); client threads POST batches of 5,000 touchpoints
over loopback. The baseline is the same records through `ingest_touchpoints` in-process, in the
same mode the API uses, into another fresh database: the ratio is what HTTP, JSON and the server
cost on top of ingestion. Bounded: a fixed number of batches, then everything stops.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rapport.core.bench import Result, register, result

BATCH = 5_000
BATCHES = 16  # × BATCH touchpoints at scale 1
CLIENTS = 3
SERVER_WORKERS = 3
CUSTOMERS = 20_000
KINDS = ("service_visit", "purchase", "payment", "inquiry", "web_visit", "loyalty_activity")
CHANNELS = ("branch", "phone", "web", "app", "email")


def records(start: int, count: int) -> list[dict[str, Any]]:
    """Deterministic touchpoints: many per customer, a spread of kinds and times."""
    return [
        {
            "external_id": f"b-{n}",
            "customer_external_id": f"cust-{n % CUSTOMERS}",
            "occurred_at": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:15:00+08:00",
            "kind": KINDS[n % len(KINDS)],
            "channel": CHANNELS[n % len(CHANNELS)],
            "amount": f"{n % 5000}.50",
            "currency": "TWD",
            "context": {"visit": "routine" if n % 3 else "recall"},
        }
        for n in range(start, start + count)
    ]


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        RAPPORT_VAR_DIR=str(var_dir),
        RAPPORT_SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        RAPPORT_DEBUG="0",
        RAPPORT_LOG_LEVEL="WARNING",
    )
    return env


def _rapport(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rapport", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(port: int, server: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the bench server exited while starting")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the bench server did not start in time")


def _post_all(port: int, key: str, bodies: list[bytes]) -> tuple[float, int]:
    """POST every body from CLIENTS threads; the seconds taken and touchpoints created."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    created: list[int] = []
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            conn.request("POST", "/api/v1/touchpoints?source=bench", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(f"HTTP {response.status}: {answer[:300]!r}")
                continue
            created.append(json.loads(answer)["created"])
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError("bench requests failed: " + "; ".join(failures[:3]))
    return elapsed, sum(created)


def _http_rate(var_dir: Path, batches: int) -> float:
    env = _env(var_dir)
    _rapport(env, "migrate", "-v", "0")
    key = _rapport(env, "apikey", "create", "--name", "bench", "--scope", "touchpoints:write")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "rapport.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(SERVER_WORKERS),
            "--timeout",
            "600",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_up(port, server, time.monotonic() + 60)
        warm = json.dumps(records(10_000_000, 200)).encode()  # load code in every worker
        _post_all(port, key.strip(), [warm] * SERVER_WORKERS)
        bodies = [json.dumps(records(i * BATCH, BATCH)).encode() for i in range(batches)]
        elapsed, created = _post_all(port, key.strip(), bodies)
        if created != batches * BATCH:
            raise RuntimeError(f"expected {batches * BATCH} touchpoints created, got {created}")
        return created / elapsed
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _in_process_rate(var_dir: Path, batches: int) -> float:
    """The baseline, measured in a child process that owns its own fresh database."""
    env = _env(var_dir)
    _rapport(env, "migrate", "-v", "0")
    done = subprocess.run(
        [sys.executable, "-m", "rapport.integrations.bench", str(batches)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=True,
    )
    return float(json.loads(done.stdout)["rate"])


@register("ingest")
def http_batch_ingest(options: dict[str, Any]) -> list[Result]:
    batches = max(2, round(BATCHES * float(options.get("scale", 1.0))))
    stderr = options.get("stderr")
    with tempfile.TemporaryDirectory(prefix="rapport-bench-http-") as tmp:
        if stderr:
            stderr.write(f"http batch ingest: {batches} × {BATCH} touchpoints via gunicorn…")
        rate = _http_rate(Path(tmp) / "http", batches)
        baseline = _in_process_rate(Path(tmp) / "direct", batches)
    return [result("http batch ingest", rate, "touchpoints/s", ">= 10000", baseline=baseline)]


def _measure_in_process(batches: int) -> float:
    """Run inside the child: the same batches straight into ingest_touchpoints."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    django.setup()
    from rapport.touchpoints.ingest import ingest_touchpoints

    ingest_touchpoints(records(10_000_000, 200), source="bench", mode="per_record")
    chunks = [json.loads(json.dumps(records(i * BATCH, BATCH))) for i in range(batches)]
    started = time.perf_counter()
    created = 0
    for chunk in chunks:
        report = ingest_touchpoints(chunk, source="bench", mode="per_record", keep_outcomes=True)
        created += report.created
    return created / (time.perf_counter() - started)


if __name__ == "__main__":
    print(json.dumps({"rate": _measure_in_process(int(sys.argv[1]))}))
