"""Rules on real events: a detractor answer through the real survey actions opens a case with the
right owner; a second signal attaches; complaints and bad-experience rules over touchpoints."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from rapport.cases import rules, triggers
from rapport.cases.models import Case, CaseEvent, CaseRule
from rapport.customers.models import SourceSystem
from rapport.surveys import actions as survey_actions
from rapport.surveys.models import Response
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint


@pytest.fixture(autouse=True)
def live_window_covers_2025(settings):
    """These tests replay timelines from March 2025: widen the live window to cover them."""
    settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = 100_000


def answer(survey, customer, touchpoint, values):
    invitation, _token = survey_actions.create_invitation(
        survey_actions.live_version(survey),
        channel="email",
        customer=customer,
        touchpoint=touchpoint,
    )
    for _ in range(10):
        specs = survey_actions.version_specs(invitation.version)
        response = Response.objects.filter(invitation=invitation).first()
        answers = survey_actions.saved_answers(response, specs)
        page = survey_actions.current_page(response, specs, answers)
        form = {
            f"q_{s.key}": [str(values[s.key])] for s in specs if s.key in values and s.page == page
        }
        outcome = survey_actions.submit_page(invitation, page, form, language="zh-hant")
        assert outcome.status != "invalid", outcome.errors
        if outcome.status == "completed":
            return outcome.response
    raise AssertionError("not completed")


@pytest.fixture
def visit(customer, org, users):
    source = SourceSystem.objects.create(code="dms", name="DMS")
    return Touchpoint.objects.create(
        customer=customer,
        occurred_at="2025-03-01T10:00:00+08:00",
        channel="branch",
        kind="service_visit",
        source=source,
        external_id="RO-1",
        unit=org["taipei"],
        staff=users["taipei_agent"].staff,
    )


@pytest.mark.django_db(transaction=True)
def test_detractor_opens_a_case_owned_by_the_touchpoints_staff(customer, visit, users):
    survey = survey_actions.create_survey_from_template("nps", "After service", publish=True)
    key = next(
        s.key
        for s in survey_actions.version_specs(survey_actions.live_version(survey))
        if s.role == "nps"
    )
    response = answer(survey, customer, visit, {key: 3})
    case = Case.objects.get()
    assert case.customer == customer and case.response_id == response.pk
    assert case.owner == users["taipei_agent"].staff and case.unit.code == "taipei"
    assert case.source == "survey" and case.state == "new" and case.rule.key == "nps-detractor"
    assert case.language == "zh-hant"
    assert [m.to for m in mail.outbox] == [["lin@example.com"]]  # acknowledgement at once
    assert "我們已收到" in mail.outbox[0].subject and case.ref in mail.outbox[0].subject

    second = answer(survey, customer, visit, {key: 5})
    assert Case.objects.count() == 1
    case.refresh_from_db()
    assert case.signal_count == 2 and case.version == 2
    attached = CaseEvent.objects.get(case=case, kind="attached")
    assert f"response {second.pk}" in attached.new


@pytest.mark.django_db(transaction=True)
def test_promoter_opens_nothing(customer, visit):
    survey = survey_actions.create_survey_from_template("nps", "After service", publish=True)
    key = next(
        s.key
        for s in survey_actions.version_specs(survey_actions.live_version(survey))
        if s.role == "nps"
    )
    answer(survey, customer, visit, {key: 9})
    assert not Case.objects.exists()


def tp(n, kind, at, **extra):
    return {
        "customer_external_id": "C1",
        "customer_name": "Lin Mei",
        "kind": kind,
        "external_id": f"T{n}",
        "occurred_at": at,
        "unit": "taipei",
        "channel": "branch",
        **extra,
    }


@pytest.mark.django_db(transaction=True)
def test_complaint_touchpoint_opens_a_complaint_case(org, users):
    ingest_touchpoints(
        [tp(1, "complaint", "2025-03-03T10:00:00+08:00", staff="tpagent")], source="crm"
    )
    case = Case.objects.get()
    assert case.source == "complaint" and case.owner.code == "tpagent" and case.severity == "high"


@pytest.mark.django_db(transaction=True)
def test_repeat_visit_for_the_same_job(org, users):
    first = tp(1, "service_visit", "2025-03-01T10:00:00+08:00", context={"job_code": "BRAKE"})
    other = tp(2, "service_visit", "2025-03-05T10:00:00+08:00", context={"job_code": "OIL"})
    ingest_touchpoints([first, other], source="dms")
    assert not Case.objects.exists()
    again = tp(3, "service_visit", "2025-03-20T10:00:00+08:00", context={"job_code": "BRAKE"})
    ingest_touchpoints([again], source="dms")
    case = Case.objects.get()
    assert case.source == "touchpoint_rule" and case.rule.key == "repeat-visit"


@pytest.mark.django_db(transaction=True)
def test_three_contacts_within_seven_days(org, users):
    ingest_touchpoints(
        [
            tp(1, "inquiry", "2025-03-01T10:00:00+08:00"),
            tp(2, "inquiry", "2025-03-03T10:00:00+08:00"),
        ],
        source="crm",
    )
    assert not Case.objects.exists()
    ingest_touchpoints([tp(3, "inquiry", "2025-03-06T10:00:00+08:00")], source="crm")
    assert Case.objects.get().rule.key == "three-contacts"


@pytest.mark.django_db(transaction=True)
def test_no_active_touchpoint_rule_keeps_imports_on_the_fast_path(org):
    assert triggers.any_active(rules.TOUCHPOINT)
    CaseRule.objects.filter(condition__in=["kind_is", "repeat_visit", "contacts_within"]).update(
        active=False
    )
    assert not triggers.any_active(rules.TOUCHPOINT)
    ingest_touchpoints([tp(1, "complaint", "2025-03-03T10:00:00+08:00")], source="crm")
    assert not Case.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_history_loaded_after_the_fact_opens_no_case(org, users, settings):
    settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = 7
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat()
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    ingest_touchpoints([tp(1, "complaint", old, staff="tpagent")], source="crm")
    assert not Case.objects.exists()
    ingest_touchpoints([tp(2, "complaint", recent, staff="tpagent")], source="crm")
    assert Case.objects.count() == 1


def test_answer_rule_and_tier_rule_plain():
    spec = rules.RuleSpec(1, "Wait too long", "answer_is", {"question": "why", "values": ["wait"]})
    payload = {"response_id": 5, "customer_id": 1, "scores": {}}
    assert rules.response_matches(spec, payload, {"why": ["price", "wait"]})
    assert not rules.response_matches(spec, payload, {"why": "price"})
    tier = rules.RuleSpec(2, "AD", "tier_is", {"tiers": ["actively_disengaged"]})
    assert rules.response_matches(tier, {"scores": {"tier": "actively_disengaged"}})
    assert rules.validate("repeat_visit", {"kind": "x"}) == [
        "params.context_key: required for repeat_visit",
        "params.days: required for repeat_visit",
    ]


def test_anonymous_responses_open_nothing():
    spec = rules.RuleSpec(1, "NPS", "nps_at_most", {"max": 6})
    assert (
        rules.signals_for_responses(
            [spec], [{"response_id": 1, "customer_id": None, "scores": {"nps_score": 0}}], {}
        )
        == []
    )


def test_contacts_window_excludes_old_ones():
    spec = rules.RuleSpec(1, "3 in 7", "contacts_within", {"count": 3, "days": 7, "kinds": []})
    at = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
    old = [
        rules.PastTouchpoint(1, "inquiry", at - dt.timedelta(days=8)),
        rules.PastTouchpoint(2, "inquiry", at - dt.timedelta(days=1)),
    ]
    payload = {"id": 3, "kind": "inquiry", "occurred_at": at.isoformat(), "customer_id": 1}
    assert not rules.touchpoint_matches(spec, payload, old)
    assert rules.touchpoint_matches(spec, payload, [*old, rules.PastTouchpoint(4, "email", at)])
