"""`rapport bench cases` (rapport.cases.bench): registered, and its two measurements run on a
small scale in the test database (the full run is documented in docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from rapport.cases import bench
from rapport.core.bench import benches


@pytest.fixture
def db_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_registered():
    import importlib

    importlib.import_module("rapport.cases.bench")
    assert bench.cases_bench in benches()["cases"]


def test_rules_measurement_queues_the_detractors(db, db_tasks):
    units, _agents = bench._org()
    got = bench._rules_bench(units, 200)
    assert got["responses"] == 200
    for run in (got["cached"], got["uncached"]):
        assert run["evaluation"]["fired"] == 50  # one in four is a detractor
        assert run["single"]["queued"] == 50  # one task per signal
        assert run["batch"]["queued"] == 1  # one task carries the batch's 50 signals
        assert all(run[k]["wall_per_s"] > 0 and run[k]["cpu_per_s"] > 0 for k in run)


def test_inbox_measurement(db, db_tasks, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    units, agents = bench._org()
    bench._open_cases(units[0], agents[units[0].pk], 300)
    got = bench._time_inbox(agents[units[0].pk][0].user, repeats=3)
    assert set(got) == set(bench.TABS)
    assert all(v["queries"] > 0 and v["p95"] >= v["p50"] > 0 for v in got.values())
