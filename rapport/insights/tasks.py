"""Periodic insights jobs (rapport.core.scheduler, run by `rapport worker`).

The incremental run every five minutes keeps the dashboards close to the data; the nightly full
run refits the models, refreshes everyone's retention state (time passes for customers who do
nothing) and rebuilds drivers and figures. Both run through rapport.insights.jobs.
"""

from __future__ import annotations

import threading

from rapport.core.scheduler import periodic
from rapport.insights import jobs


@periodic(seconds=300, name="insights.incremental")
def recompute_incremental(stop: threading.Event) -> None:
    jobs.recompute_incremental()


@periodic(seconds=24 * 3600, name="insights.full")
def recompute_all(stop: threading.Event) -> None:
    jobs.recompute_all(stop=stop)
