"""`rapport insights recompute [--full]` and the periodic jobs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rapport.core import scheduler
from rapport.insights import tasks
from rapport.insights.models import CustomerInsight, RecomputeRun
from tests.insights.insight_data import Base

pytestmark = pytest.mark.django_db(transaction=True)


def test_full_then_incremental(org):
    Base(org)
    out = StringIO()
    call_command("insights", "recompute", "--full", "--as-of", "2025-07-01", stdout=out)
    assert "Full recompute: 5 customers" in out.getvalue()
    assert CustomerInsight.objects.count() == 5
    out = StringIO()
    call_command("insights", "recompute", "--as-of", "2025-07-01", stdout=out)
    assert "Incremental recompute: 0 customers" in out.getvalue()
    assert list(RecomputeRun.objects.values_list("kind", flat=True)) == ["incremental", "full"]


def test_bad_date_is_a_clear_message(org):
    with pytest.raises(CommandError, match="--as-of must be a date"):
        call_command("insights", "recompute", "--as-of", "yesterday")


def test_periodic_jobs_are_registered(org):
    scheduler.autodiscover()
    registered = scheduler.jobs()
    assert registered["insights.incremental"].fn is tasks.recompute_incremental
    assert registered["insights.full"].seconds == 24 * 3600
    Base(org)
    import threading

    tasks.recompute_incremental(threading.Event())  # no previous run: a full one
    assert RecomputeRun.objects.get().kind == "full"
