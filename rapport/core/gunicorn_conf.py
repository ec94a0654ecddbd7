"""Gunicorn settings for `rapport serve` (loaded as `python:rapport.core.gunicorn_conf`).

Threaded workers (gthread): a request waiting on the database does not hold a whole process,
and a few processes use both cores of a small machine. Command-line options (`rapport serve
--workers --threads --bind`) override these; so does the environment (RAPPORT_WEB_WORKERS,
RAPPORT_WEB_THREADS, RAPPORT_WEB_TIMEOUT).
"""

from __future__ import annotations

import os
from pathlib import Path

wsgi_app = "rapport.wsgi:application"
bind = ["127.0.0.1:8000"]
worker_class = "gthread"
workers = int(os.environ.get("RAPPORT_WEB_WORKERS", max(2, os.cpu_count() or 1)))
# Many threads: on SQLite, submits waiting for the write lock wait without the GIL, and the
# more a process has waiting, the more rapport.surveys.writer commits together (measured with
# `rapport bench surveys`: 2 × 16 kept up with 300 submits/s, 2 × 8 did not).
threads = int(os.environ.get("RAPPORT_WEB_THREADS", 16))
timeout = int(os.environ.get("RAPPORT_WEB_TIMEOUT", 60))
graceful_timeout = 20  # SIGTERM: requests in flight get this long to finish
keepalive = 5
# Recycle workers now and then, so that a slow leak never grows without bound.
max_requests = 5_000
max_requests_jitter = 500
accesslog = "-"  # stdout
errorlog = "-"  # stderr
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "rapport"
# The workers' heartbeat files: in memory where possible (a slow disk stalls heartbeats).
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"
