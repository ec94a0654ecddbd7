"""Background work of surveys: scheduling from events and waves, sending, reminders, expiry.

Tasks (django-tasks, run by `rapport worker`) take the bulk work off the request that caused it;
periodic jobs (rapport.core.scheduler, each run once across workers) send what is due, launch the
waves that are due and expire old links.
"""

from __future__ import annotations

import threading

from django_tasks import task

from rapport.core.scheduler import periodic
from rapport.surveys import distribution, waves


@task()
def schedule_event_invitations(matches: list[list[int]]) -> int:
    """Invitations for [touchpoint id, rule id] pairs; returns how many were written."""
    return len(distribution.schedule_for_touchpoints([(t, r) for t, r in matches]))


@task()
def run_wave(wave_id: int) -> dict:
    """Schedule one run of a wave; returns its report."""
    return waves.run_wave_by_id(wave_id).as_dict()


@periodic(seconds=30, name="surveys.send_due")
def send_due_invitations(stop: threading.Event) -> None:
    distribution.send_due(stop=stop)
    distribution.send_reminders(stop=stop)


@periodic(seconds=60, name="surveys.launch_waves")
def launch_due_waves(stop: threading.Event) -> None:
    for wave_id in waves.claim_due_waves():
        run_wave.enqueue(wave_id)


@periodic(seconds=600, name="surveys.expire")
def expire_invitations(stop: threading.Event) -> None:
    distribution.expire_due()
