"""Periodic jobs, run by `rapport worker`.

Apps register jobs with `@periodic(seconds=...)` in their `tasks` module (found by `autodiscover`).
Each job has a row in ScheduledJob; a worker runs a due job only after moving its `next_run_at`
forward with a conditional UPDATE, so however many workers run, each run happens once.
"""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.db import close_old_connections, connections
from django.utils import timezone

log = logging.getLogger(__name__)

JobFn = Callable[[threading.Event], None]


@dataclass(frozen=True)
class Job:
    name: str
    seconds: float
    fn: JobFn


_jobs: dict[str, Job] = {}


def periodic(seconds: float, name: str | None = None) -> Callable[[JobFn], JobFn]:
    """Register `fn(stop: threading.Event)` to run every `seconds`; a long job should return
    soon after `stop` is set (the worker is shutting down)."""
    if seconds <= 0:
        raise ValueError("a periodic job needs a positive interval")

    def register(fn: JobFn) -> JobFn:
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        _jobs[job_name] = Job(job_name, seconds, fn)
        return fn

    return register


def jobs() -> dict[str, Job]:
    return dict(_jobs)


def autodiscover() -> None:
    """Import `rapport.<app>.tasks` for every Rapport app, which registers their jobs."""
    for config in apps.get_app_configs():
        if config.name.startswith("rapport."):
            try:
                importlib.import_module(f"{config.name}.tasks")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.tasks":
                    raise


def claim(job: Job, now: datetime) -> bool:
    """Take this run of the job, or learn that it is not due or another worker took it."""
    from rapport.core.models import ScheduledJob

    ScheduledJob.objects.bulk_create(
        [ScheduledJob(name=job.name, next_run_at=now)], ignore_conflicts=True
    )
    taken = ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=now + timedelta(seconds=job.seconds), last_started_at=now
    )
    return taken == 1


def run_due_jobs(stop: threading.Event | None = None, now: datetime | None = None) -> list[str]:
    """Run every job that is due and not taken by another worker; return the names run.
    A failing job is logged and recorded in its row; it does not stop the others."""
    from rapport.core.models import ScheduledJob

    stop = stop or threading.Event()
    ran: list[str] = []
    for job in jobs().values():
        if stop.is_set():
            break
        if not claim(job, now or timezone.now()):
            continue
        error = ""
        try:
            job.fn(stop)
        except Exception:
            log.exception("periodic job %s failed", job.name)
            error = traceback.format_exc()[-4000:]
        ScheduledJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(), last_error=error
        )
        ran.append(job.name)
    return ran


def run_forever(stop: threading.Event, tick: float = 1.0) -> None:
    """Run due jobs every `tick` seconds until `stop` is set (the worker's scheduler thread)."""
    while not stop.is_set():
        close_old_connections()
        try:
            run_due_jobs(stop)
        except Exception:  # e.g. the database went away: log, wait, try again
            log.exception("scheduler tick failed")
        stop.wait(tick)
    connections.close_all()  # this thread's connections
