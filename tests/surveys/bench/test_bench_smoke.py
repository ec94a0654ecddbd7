"""`rapport bench surveys` at a tiny scale: a real gunicorn, real clients, the count check."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.slow


def test_bench_runs_and_counts_every_response_once():
    out = io.StringIO()
    call_command("bench", "surveys", "--scale", "0.001", stdout=out, stderr=io.StringIO())
    report = json.loads(out.getvalue())
    metrics = {r["metric"]: r for r in report["results"]}
    assert metrics["responses stored exactly once"]["value"] == 50
    assert metrics["responses stored exactly once"]["baseline"] == 50
    assert metrics["response submit p99"]["value"] > 0
    assert metrics["survey page render p95 (server)"]["baseline"] is not None
    assert metrics["wave scheduling"]["value"] > 0
