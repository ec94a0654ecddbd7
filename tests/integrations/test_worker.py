"""`rapport worker`: runs queued tasks and periodic jobs; --batch drains and exits; SIGTERM stops
it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from rapport.core import events
from rapport.core.models import ScheduledJob
from rapport.integrations import actions
from rapport.integrations.models import WebhookDelivery
from rapport.integrations.tasks import deliver_webhooks


def test_batch_runs_a_queued_task(transactional_db, receiver):
    actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": 1}, {"id": 2}])  # enqueues the task on commit
    (queued,) = DBTaskResult.objects.all()
    assert queued.task_path == deliver_webhooks.module_path
    assert receiver.requests == []

    # The periodic sender already ran recently: only the task can send these now.
    ScheduledJob.objects.create(name="webhooks.deliver_due", next_run_at="2999-01-01T00:00Z")
    call_command("worker", "--batch", verbosity=0)
    task = DBTaskResult.objects.get(pk=queued.pk)
    assert task.status == "SUCCESSFUL"
    assert task.return_value == 2
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2
    assert len(receiver.requests) == 2


def test_batch_runs_due_periodic_jobs(transactional_db, receiver):
    actions.create_subscription(receiver.url, ["*"])
    events.emit("touchpoint.created", [{"id": 1}])
    DBTaskResult.objects.all().delete()  # no task: the periodic job must send it
    call_command("worker", "--once", verbosity=0)
    assert WebhookDelivery.objects.get().status == "delivered"


def test_sigterm_stops_the_worker_cleanly(tmp_path):
    env = {**os.environ, "RAPPORT_VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    env.pop("DATABASE_URL")
    rapport = [sys.executable, "-m", "rapport"]
    subprocess.run([*rapport, "migrate", "-v0"], env=env, check=True, timeout=120)
    worker = subprocess.Popen(
        [*rapport, "worker", "--interval", "0.2", "--no-startup-delay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = b""
        while b"Starting worker" not in output:  # logged once the signal handlers are set
            line = worker.stdout.readline()  # type: ignore[union-attr]
            assert line, "the worker exited early:\n" + output.decode()
            output += line
        time.sleep(2)  # let the scheduler thread run its first jobs
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, worker.stdout.read().decode()  # type: ignore[union-attr]
    finally:
        if worker.poll() is None:
            worker.kill()
    check = subprocess.run(
        [
            *rapport,
            "shell",
            "-v",
            "0",
            "-c",
            "from rapport.core.models import ScheduledJob as J;"
            "print(J.objects.filter(name='webhooks.deliver_due',"
            " last_finished_at__isnull=False).count())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "1", check.stderr
