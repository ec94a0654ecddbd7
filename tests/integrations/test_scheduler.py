"""Periodic jobs: each due run is claimed by exactly one worker; failures are recorded."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.utils import timezone

from rapport.core import scheduler
from rapport.core.models import ScheduledJob


@pytest.fixture
def job_registry(monkeypatch):
    monkeypatch.setattr(scheduler, "_jobs", {})
    return scheduler


def test_a_due_job_runs_once_then_waits_for_its_interval(db, job_registry):
    runs: list[int] = []
    job_registry.periodic(seconds=60, name="count")(lambda stop: runs.append(1))
    now = timezone.now()
    assert scheduler.run_due_jobs(now=now) == ["count"]
    assert scheduler.run_due_jobs(now=now) == []
    assert scheduler.run_due_jobs(now=now + dt.timedelta(seconds=61)) == ["count"]
    assert len(runs) == 2


def test_racing_workers_run_a_job_once(transactional_db, job_registry):
    runs: list[str] = []
    job_registry.periodic(seconds=60, name="once")(lambda stop: runs.append("x"))
    start = threading.Barrier(4)

    def worker() -> None:
        from django.db import connection

        start.wait()
        try:
            scheduler.run_due_jobs()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == ["x"]


def test_a_failing_job_is_recorded_and_does_not_stop_the_others(db, job_registry):
    ran: list[str] = []

    def broken(stop: threading.Event) -> None:
        raise RuntimeError("boom")

    job_registry.periodic(seconds=5, name="broken")(broken)
    job_registry.periodic(seconds=5, name="fine")(lambda stop: ran.append("fine"))
    assert scheduler.run_due_jobs() == ["broken", "fine"]
    assert ran == ["fine"]
    assert "boom" in ScheduledJob.objects.get(name="broken").last_error
    assert ScheduledJob.objects.get(name="fine").last_error == ""


def test_the_webhook_sender_is_registered(db):
    scheduler.autodiscover()
    assert "webhooks.deliver_due" in scheduler.jobs()
