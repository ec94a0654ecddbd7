"""Event rules: a real `ingest_touchpoints` call fires a rule with its delay; filters; two rules
for one touchpoint make one invitation; the quarantine across rules; bulk imports enqueue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from rapport.core.events import has_handlers
from rapport.customers.models import Customer
from rapport.surveys import distribution, triggers
from rapport.surveys.event_filters import RuleSpec, context_matches, rule_matches
from rapport.surveys.models import EventRule, Invitation
from rapport.surveys.tasks import schedule_event_invitations
from rapport.touchpoints.ingest import ingest_touchpoints


def record(n: int, occurred: dt.datetime, kind: str = "service_visit", **extra) -> dict:
    return {
        "external_id": f"RO-{n}",
        "customer_external_id": f"C-{n % 1000}",
        "customer_email": f"c{n % 1000}@example.com",
        "occurred_at": occurred.isoformat(),
        "kind": kind,
        "channel": "branch",
        "unit": "taipei",
        **extra,
    }


@pytest.fixture
def csi_rule(org, make_survey):
    survey = make_survey("csi", "Service CSI")
    return EventRule.objects.create(
        name="CSI after service", survey=survey, touchpoint_kind="service_visit", delay_hours=48
    )


def test_a_real_ingest_fires_the_rule_two_days_later(
    transactional_db, csi_rule, policy, django_capture_on_commit_callbacks
):
    occurred = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_touchpoints(
            [record(1, occurred, **{"context.visit_type": "warranty"})],
            source="dms",
        )
    assert report.created == 1
    (queued,) = DBTaskResult.objects.all()
    assert queued.task_path == schedule_event_invitations.module_path
    assert not Invitation.objects.exists()  # nothing is done inside the import

    call_command("worker", "--batch", verbosity=0)
    invitation = Invitation.objects.get()
    customer = Customer.objects.get(email="c1@example.com")
    assert invitation.customer == customer
    assert invitation.rule == csi_rule and invitation.survey == csi_rule.survey
    assert invitation.status == "scheduled"
    assert invitation.scheduled_for == occurred + dt.timedelta(hours=48)
    assert invitation.touchpoint.external_id == "RO-1"
    assert invitation.unit.code == "taipei"


def test_no_active_rule_means_imports_skip_the_events(db, csi_rule):
    assert has_handlers("touchpoint.created")
    EventRule.objects.update(active=False)
    assert triggers.any_active_rule() is False


def test_filters_on_channel_unit_and_context(org):
    paths = {org["taipei"].pk: org["taipei"].path, org["kaohsiung"].pk: org["kaohsiung"].path}
    rule = RuleSpec(
        id=1,
        kind="service_visit",
        channels=frozenset({"branch"}),
        unit_path=org["north"].path,
        context={"visit_type": ["warranty", "paid"]},
    )
    tp = {"id": 1, "kind": "service_visit", "channel": "branch", "unit_id": org["taipei"].pk,
          "context": {"visit_type": "paid"}}  # fmt: skip
    assert rule_matches(rule, tp, paths)
    assert not rule_matches(rule, {**tp, "unit_id": org["kaohsiung"].pk}, paths)
    assert not rule_matches(rule, {**tp, "channel": "phone"}, paths)
    assert not rule_matches(rule, {**tp, "context": {"visit_type": "recall"}}, paths)
    assert not rule_matches(rule, {**tp, "kind": "purchase"}, paths)
    assert context_matches({"year": 2021}, {"year": "2021"})


def test_two_rules_for_one_touchpoint_make_one_invitation(
    db, csi_rule, policy, make_survey, django_capture_on_commit_callbacks
):
    nps_rule = EventRule.objects.create(
        name="NPS after service",
        survey=make_survey("nps"),
        touchpoint_kind="service_visit",
        delay_hours=0,
        priority=10,  # wins
    )
    occurred = timezone.now() - dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_touchpoints([record(7, occurred)], source="dms")
    (task,) = DBTaskResult.objects.all()
    matches = task.args_kwargs["args"][0]
    assert len(matches) == 2  # both rules fire ...
    distribution.schedule_for_touchpoints([tuple(m) for m in matches])
    (invitation,) = Invitation.objects.all()  # ... one invitation
    assert invitation.rule == nps_rule
    # Firing again (a retried task) adds nothing.
    distribution.schedule_for_touchpoints([tuple(m) for m in matches])
    assert Invitation.objects.count() == 1


def test_quarantine_across_rules_and_surveys(db, csi_rule, policy, reachable, make_survey):
    customer = reachable()
    first = distribution.invite_after_event(customer, make_survey("nps"))
    assert first.status == "scheduled"
    second = distribution.invite_after_event(
        customer, csi_rule.survey, now=timezone.now() + dt.timedelta(days=29)
    )
    assert second.status == "suppressed" and second.suppressed_by == "quarantine"
    third = distribution.invite_after_event(
        customer, csi_rule.survey, now=timezone.now() + dt.timedelta(days=31)
    )
    assert third.status == "scheduled"


def test_same_customer_twice_in_one_batch_is_invited_once(db, csi_rule, policy, reachable, org):
    customer = reachable()
    candidates = [
        distribution.Candidate(
            customer.pk, csi_rule.survey_id, timezone.now() + dt.timedelta(hours=h)
        )
        for h in (5, 1)
    ]
    written = distribution.schedule(candidates)
    assert sorted(i.status for i in written) == ["scheduled", "suppressed"]
    kept = next(i for i in written if i.status == "scheduled")
    assert kept.scheduled_for < timezone.now() + dt.timedelta(hours=2)  # the earlier one


def test_quiet_hours_postpone_in_the_units_time_zone(db, csi_rule, policy, reachable, org):
    policy.quiet_start, policy.quiet_end = dt.time(21, 0), dt.time(9, 0)
    policy.save()
    org["kaohsiung"].time_zone = "UTC"
    org["kaohsiung"].save()
    now = dt.datetime(2025, 3, 3, 14, 0, tzinfo=dt.UTC)  # 22:00 in Taipei, 14:00 in UTC
    taipei = reachable("A", home_unit=org["taipei"])
    utc_customer = reachable("B", home_unit=org["kaohsiung"])
    a = distribution.invite_after_event(taipei, csi_rule.survey, now=now)
    b = distribution.invite_after_event(utc_customer, csi_rule.survey, now=now)
    assert a.scheduled_for == dt.datetime(2025, 3, 4, 1, 0, tzinfo=dt.UTC)  # 09:00 Taipei
    assert b.scheduled_for == now


def test_bulk_import_enqueues_in_chunks(
    db, csi_rule, policy, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(triggers, "CHUNK", 100)
    occurred = timezone.now() - dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_touchpoints(
            [record(n, occurred) for n in range(250)]
            + [record(1000 + n, occurred, kind="purchase") for n in range(50)],
            source="dms",
        )
    tasks = list(DBTaskResult.objects.all())
    assert [len(t.args_kwargs["args"][0]) for t in tasks] == [100, 100, 50]
    assert not Invitation.objects.exists()
