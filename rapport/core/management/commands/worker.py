"""`rapport worker`: the background worker — the database task queue and the periodic jobs.

The task queue is django-tasks-db's own worker (its Worker class, unchanged); beside it a thread
runs the scheduler (rapport.core.scheduler). SIGTERM or SIGINT stop both cleanly: the task being
run finishes, the scheduler stops after its current step. `--batch` (or `--once`) runs the due
periodic jobs and every queued task once, then exits.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.db import connections
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from rapport.core import scheduler

log = logging.getLogger(__name__)


class Command(DbWorkerCommand):
    help = "Run background tasks and periodic jobs (e.g. webhook deliveries) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(queue_name="*", reload=False)
        parser.add_argument("--once", action="store_true", dest="batch", help="the same as --batch")
        parser.add_argument(
            "--tick",
            type=float,
            default=1.0,
            help="seconds between looks at the periodic jobs (default: %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.configure_logging(options["verbosity"])
        scheduler.autodiscover()
        excluded = options["exclude_queues"].split(",") if options["exclude_queues"] else []
        worker = Worker(
            queue_names=options["queue_name"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"] and not options["batch"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
            excluded_queue_names=excluded,
        )
        if options["batch"]:
            ran = scheduler.run_due_jobs()
            worker.run()
            log.info("worker batch done; periodic jobs run: %s", ", ".join(ran) or "none")
            return

        stop = threading.Event()
        jobs = threading.Thread(
            target=scheduler.run_forever, args=(stop, options["tick"]), name="scheduler"
        )
        jobs.start()
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
            jobs.join()
            connections.close_all()
            log.info("worker stopped")
