"""SLA clocks: due times in business hours, the pause while awaiting the customer, a warning
before and one escalation on a breach — exactly once across a worker restart and two workers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections

from rapport.cases.actions import lifecycle, promises, sla
from rapport.cases.models import BusinessCalendar, Case, CaseEvent
from rapport.integrations.models import WebhookDelivery, WebhookSubscription
from tests.cases.conftest import MONDAY, agent

H = dt.timedelta(hours=1)


def test_due_times_follow_business_hours(customer, open_case):
    case = open_case(customer, severity="medium")  # medium value tier → p3: ack 4h, resolve 5 days
    assert case.priority == "p3"
    assert case.ack_due_at == MONDAY + 4 * H
    assert case.resolve_due_at == MONDAY + 7 * 24 * H  # five 9-hour days from Monday 10:00
    assert case.sla_next_at == case.ack_warn_at


def test_value_tier_raises_priority(customer, open_case):
    customer.attributes = {"value_tier": "high"}
    customer.save()
    assert open_case(customer, severity="high").priority == "p1"


def test_the_value_tier_from_insights_comes_before_the_attribute(customer, open_case):
    from django.utils import timezone

    from rapport.insights.models import CustomerInsight

    customer.attributes = {"value_tier": "low"}
    customer.save()
    CustomerInsight.objects.create(
        customer=customer,
        as_of=timezone.now(),
        retention_state="retained",
        matrix_cell="advocate",
        value_tier="platinum",
    )
    case = open_case(customer, severity="medium")
    assert (case.value_tier, case.priority) == ("high", "p2")


def test_unit_calendar_with_holidays(customer, open_case, org):
    BusinessCalendar.objects.create(unit=org["north"], holiday_country="TW")
    thursday = dt.datetime(2025, 4, 2, 17, tzinfo=MONDAY.tzinfo)  # Wed 17:00 before 4/3–4/4 closed
    case = open_case(customer, now=thursday)
    assert case.ack_due_at == dt.datetime(2025, 4, 7, 12, tzinfo=MONDAY.tzinfo)


def test_pause_while_awaiting_customer_moves_the_clocks(customer, open_case, users):
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, agent(users), now=MONDAY + H)
    due = case.resolve_due_at
    case = lifecycle.transition(
        case.pk, case.version, "awaiting_customer", agent(users), now=MONDAY + 2 * H
    )
    assert case.sla_next_at is None
    assert sla.sweep_sla(now=due + 100 * H) == {"warnings": 0, "breaches": 0}
    # Waited Monday 12:00 → Tuesday 12:00: nine business hours.
    case = lifecycle.transition(
        case.pk, case.version, "in_progress", agent(users), now=MONDAY + 26 * H
    )
    assert case.paused_minutes == 9 * 60
    assert case.resolve_due_at == due + 24 * H
    assert [c["state"] for c in sla.clock_status(case, MONDAY + 26 * H)] == [
        "met",
        "running",
        "running",
    ]


@pytest.fixture
def hook(db):
    return WebhookSubscription.objects.create(
        url="https://example.com/h", event_types=["case.breached", "case.escalated"]
    )


def test_warning_then_breach_escalates_to_the_manager_once(customer, open_case, users, hook):
    case = open_case(customer)
    warn = sla.sweep_sla(now=case.ack_warn_at)
    assert warn == {"warnings": 1, "breaches": 0}
    assert sla.sweep_sla(now=case.ack_warn_at) == {"warnings": 0, "breaches": 0}
    breach = sla.sweep_sla(now=case.ack_due_at)
    assert breach == {"warnings": 0, "breaches": 1}
    # A restarted worker runs the job again: nothing more happens.
    assert sla.sweep_sla(now=case.ack_due_at + H) == {"warnings": 0, "breaches": 0}
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds.count("sla_warning") == 1 and kinds.count("sla_breach") == 1
    escalated = CaseEvent.objects.get(case=case, kind="escalated")
    assert escalated.new.endswith("Northmgr")  # the unit manager above Taipei
    events = list(
        WebhookDelivery.objects.order_by("pk").values_list("event_type", "payload__data__target")
    )
    assert events == [("case.breached", "ack"), ("case.escalated", "ack")]
    case.refresh_from_db()
    assert case.ack_breached_at == case.ack_due_at
    assert case.sla_next_at == case.response_warn_at


def test_a_crash_before_commit_loses_nothing(customer, open_case, monkeypatch):
    case = open_case(customer)

    def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(sla, "_breach", crash)
    with pytest.raises(RuntimeError):
        sla.sweep_sla(now=case.ack_due_at)
    case.refresh_from_db()
    assert case.ack_breached_at is None  # rolled back with the work
    monkeypatch.undo()
    assert sla.sweep_sla(now=case.ack_due_at)["breaches"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_escalate_once(customer, open_case, hook):
    case = open_case(customer)
    barrier = threading.Barrier(2)
    found: list[dict] = []

    def run() -> None:
        try:
            barrier.wait()
            found.append(sla.sweep_sla(now=case.ack_due_at))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(f["breaches"] for f in found) == 1
    assert CaseEvent.objects.filter(case=case, kind="sla_breach").count() == 1
    assert WebhookDelivery.objects.filter(event_type="case.breached").count() == 1


def test_resolved_cases_are_not_swept(customer, open_case, users):
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, agent(users), now=MONDAY)
    case = lifecycle.resolve(
        case.pk,
        case.version,
        agent(users),
        cause="service_encounter",
        fix="Apologised",
        now=MONDAY + H,
    )
    assert Case.objects.get(pk=case.pk).sla_next_at is None
    assert sla.sweep_sla(now=MONDAY + 1000 * H) == {"warnings": 0, "breaches": 0}


def test_overdue_promises_count_as_broken(customer, open_case, users):
    case = open_case(customer)
    promise = promises.make_promise(
        case.pk, case.version, "Call back", MONDAY + 2 * H, agent(users), now=MONDAY
    )
    assert promises.break_overdue_promises(now=MONDAY + H) == 0
    assert promises.break_overdue_promises(now=MONDAY + 2 * H) == 1
    assert promises.break_overdue_promises(now=MONDAY + 3 * H) == 0
    promise.refresh_from_db()
    assert promise.state == "broken"
