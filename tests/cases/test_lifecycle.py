"""A case from opening to closing and reopening: the audit trail records every change (who,
when, old → new); closing needs a basis; the recovery survey goes out through [surveys]."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from rapport.cases import actions, states
from rapport.cases.actions import lifecycle, notes, ownership
from rapport.cases.models import Case, CaseEvent, CaseSettings, Promise, Transfer
from rapport.integrations.models import WebhookDelivery, WebhookSubscription
from rapport.surveys import actions as survey_actions
from tests.cases.conftest import MONDAY, agent

H = dt.timedelta(hours=1)


def test_every_change_is_in_the_audit_trail(customer, open_case, users):
    WebhookSubscription.objects.create(
        url="https://example.com/h", event_types=["case.opened", "case.resolved", "case.closed"]
    )
    me = agent(users)
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, me, now=MONDAY + H)
    case = lifecycle.transition(case.pk, case.version, "in_progress", me, now=MONDAY + H)
    case = notes.add_note(case.pk, case.version, "Called the workshop", me, now=MONDAY + H)
    case = notes.reply(
        case.pk, case.version, me, what="why the car was late", by=MONDAY + 5 * H, now=MONDAY + H
    )
    assert Promise.objects.get(case=case).due_at == MONDAY + 5 * H
    case = ownership.transfer(
        case.pk,
        case.version,
        users["khh_agent"].staff,
        "Car is in Kaohsiung",
        me,
        now=MONDAY + 2 * H,
    )
    them = agent(users, "khh_agent")
    case = lifecycle.resolve(
        case.pk,
        case.version,
        them,
        cause="service_encounter",
        sub_cause="late delivery",
        fix="Loan car and apology",
        reusable=True,
        message="Your car is ready.",
        now=MONDAY + 3 * H,
    )
    with pytest.raises(actions.CaseError, match="Wait 7 days"):
        lifecycle.close(case.pk, case.version, "no_reply", them, now=MONDAY + 4 * H)
    case = lifecycle.close(
        case.pk, case.version, "confirmed", them, confirmation_channel="phone", now=MONDAY + 4 * H
    )
    assert case.state == "closed" and case.close_basis == "confirmed"

    trail = list(CaseEvent.objects.filter(case=case).order_by("at", "pk"))
    changes = {(e.field, e.old, e.new) for e in trail if e.kind in {"changed", "transfer"}}
    assert ("state", "new", "acknowledged") in changes
    assert ("state", "acknowledged", "in_progress") in changes
    assert ("state", "in_progress", "resolved") in changes
    assert ("state", "resolved", "closed") in changes
    assert ("cause", "", "service_encounter") in changes
    assert any(f == "owner" and new.endswith("Khhagent") for f, _o, new in changes)
    assert any(f == "unit" and new.endswith("Kaohsiung") for f, _o, new in changes)
    assert {e.kind for e in trail} >= {
        "opened",
        "note",
        "message",
        "promise",
        "transfer",
        "changed",
    }
    assert all(e.at and e.actor_label for e in trail)
    assert CaseEvent.objects.filter(
        case=case, kind="note", actor=users["taipei_agent"].staff
    ).exists()
    transfer = Transfer.objects.get(case=case)
    assert transfer.reason == "Car is in Kaohsiung" and case.transfer_count == 1
    assert case.first_response_at == MONDAY + H and case.version == 8
    subjects = list(case.messages.order_by("pk").values_list("subject", flat=True))
    assert len(subjects) == 3 and "查證" in subjects[1] and "處理完成" in subjects[2]
    assert list(WebhookDelivery.objects.order_by("pk").values_list("event_type", flat=True)) == [
        "case.opened",
        "case.resolved",
        "case.closed",
    ]


def test_closing_sends_the_recovery_survey_and_reopen_needs_a_reason(customer, open_case, users):
    survey = survey_actions.create_survey_from_template("nps", "Recovery", publish=True)
    config = CaseSettings.current()
    config.recovery_survey = survey
    config.save()
    me = agent(users)
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, me, now=MONDAY)
    case = lifecycle.resolve(
        case.pk, case.version, me, cause="price", fix="Explained the invoice", now=MONDAY + H
    )
    case = lifecycle.close(case.pk, case.version, "no_reply", me, now=MONDAY + 8 * 24 * H)
    invitation = case.recovery_invitation
    assert (
        invitation is not None and invitation.survey == survey and invitation.customer == customer
    )
    assert invitation.reason == f"recovery {case.ref}"
    with pytest.raises(actions.CaseError, match="why"):
        lifecycle.reopen(case.pk, case.version, "", me)
    case = lifecycle.reopen(
        case.pk, case.version, "Customer called: still wrong", me, now=MONDAY + 200 * H
    )
    assert case.state == "in_progress" and case.reopen_count == 1 and case.resolved_at is None


def test_reopen_refused_when_another_case_is_open(customer, open_case, users):
    me = agent(users)
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, me, now=MONDAY)
    case = lifecycle.resolve(case.pk, case.version, me, cause="price", fix="Refund", now=MONDAY)
    case = lifecycle.close(
        case.pk, case.version, "confirmed", me, confirmation_channel="email", now=MONDAY
    )
    newer = open_case(customer)
    with pytest.raises(actions.CaseError, match=newer.ref):
        lifecycle.reopen(case.pk, case.version, "again", me)
    assert Case.objects.get(pk=case.pk).state == "closed"


def test_stale_version_is_a_conflict_and_changes_nothing(customer, open_case, users):
    case = open_case(customer)
    lifecycle.acknowledge(case.pk, case.version, agent(users), now=MONDAY)
    with pytest.raises(actions.Conflict, match="version 1.*version 2"):
        notes.add_note(case.pk, case.version, "late note", agent(users, "admin"))
    assert not CaseEvent.objects.filter(case=case, kind="note").exists()


def test_consent_respected_for_service_messages(customer, open_case, users):
    customer.consents.create(channel="email", purpose="service", granted=False)
    case = open_case(customer)
    message = case.messages.get()
    assert message.status == "skipped" and "opted out" in message.error
    assert mail.outbox == []


def test_illegal_transition_says_why(customer, open_case, users):
    case = open_case(customer)
    with pytest.raises(states.IllegalTransition, match="from New to In progress"):
        lifecycle.transition(case.pk, case.version, "in_progress", agent(users))


def test_a_recovery_survey_sent_before_closing_is_not_sent_again(customer, open_case, users):
    from rapport.surveys.models import Invitation

    survey = survey_actions.create_survey_from_template("nps", "Recovery", publish=True)
    config = CaseSettings.current()
    config.recovery_survey = survey
    config.save()
    me = agent(users)
    case = open_case(customer)
    case = lifecycle.acknowledge(case.pk, case.version, me, now=MONDAY)
    case = lifecycle.resolve(case.pk, case.version, me, cause="price", fix="Refund", now=MONDAY + H)
    case = lifecycle.send_recovery_survey(case.pk, case.version, me, now=MONDAY + 2 * H)
    first = case.recovery_invitation
    case = lifecycle.close(case.pk, case.version, "no_reply", me, now=MONDAY + 8 * 24 * H)
    assert case.recovery_invitation == first
    assert Invitation.objects.filter(survey=survey, customer=customer).count() == 1
