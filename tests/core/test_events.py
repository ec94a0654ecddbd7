"""Events: subscribers run in the emitter's transaction; a broken one never breaks the emitter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from rapport.core import events
from rapport.customers.models import SourceSystem

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def test_live_keeps_recent_and_timeless_payloads(settings):
    settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = 7
    payloads = [
        {"id": 1, "occurred_at": (NOW - dt.timedelta(days=8)).isoformat()},
        {"id": 2, "occurred_at": (NOW - dt.timedelta(days=6)).isoformat()},
        {"id": 3},
        {"id": 4, "occurred_at": NOW.replace(tzinfo=None) - dt.timedelta(hours=1)},
    ]
    assert [p["id"] for p in events.live(payloads, now=NOW)] == [2, 3, 4]


@pytest.fixture
def handlers(monkeypatch):
    table: dict = {}
    monkeypatch.setattr(events, "_handlers", table)
    return table


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_is_rolled_back_alone(handlers):
    seen = []

    def broken(event_type, batch):
        SourceSystem.objects.create(code="from-broken", name="x")
        raise RuntimeError("bug")

    def working(event_type, batch):
        SourceSystem.objects.create(code="from-working", name="y")
        seen.extend(batch)

    handlers["touchpoint.created"] = [broken, working]
    with transaction.atomic():
        SourceSystem.objects.create(code="emitter", name="z")
        events.emit("touchpoint.created", [{"id": 1}])
    codes = set(SourceSystem.objects.values_list("code", flat=True))
    assert {"emitter", "from-working"} <= codes
    assert "from-broken" not in codes
    assert seen == [{"id": 1}]


@pytest.mark.django_db(transaction=True)
def test_subscriber_work_rolls_back_with_the_emitter(handlers):
    handlers["touchpoint.created"] = [
        lambda et, b: SourceSystem.objects.create(code="side-effect", name="s")
    ]
    with pytest.raises(ValueError), transaction.atomic():
        events.emit("touchpoint.created", [{"id": 1}])
        raise ValueError("emitter fails after emitting")
    assert not SourceSystem.objects.filter(code="side-effect").exists()


def test_unknown_event_type_is_refused():
    with pytest.raises(ValueError):
        events.emit("nope.happened", [{}])
