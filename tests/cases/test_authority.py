"""Authority limits: within the limit a remedy is approved at once; above it an approval request
goes to the next manager up the tree, and up again when nobody acts in time (clock passed in).
Compensation is granted only after the customer's consent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import signing

from rapport.cases import actions, states
from rapport.cases.actions import consent, lifecycle, remedies
from rapport.cases.models import ApprovalRequest, AuthorityLimit, Case, CaseEvent
from rapport.integrations.models import WebhookDelivery, WebhookSubscription
from tests.cases.conftest import MONDAY, agent
from tests.conftest import make_user


@pytest.fixture
def taipei_mgr(org):
    return make_user("tpmgr", org["taipei"], "unit_manager").staff


def working_case(customer, open_case, users):
    case = open_case(customer)
    return lifecycle.acknowledge(case.pk, case.version, agent(users), now=MONDAY)


def test_within_the_limit_is_approved_at_once(customer, open_case, users):
    case = working_case(customer, open_case, users)
    remedy = remedies.propose_remedy(
        case.pk, case.version, agent(users), kind="voucher", value="500", currency="TWD", now=MONDAY
    )
    assert remedy.status == "approved" and remedy.approved_by == users["taipei_agent"].staff
    assert not ApprovalRequest.objects.exists()
    assert Case.objects.get(pk=case.pk).state == "acknowledged"


def test_a_personal_limit_wins_over_the_role(customer, open_case, users):
    staff = users["taipei_agent"].staff
    AuthorityLimit.objects.create(staff=staff, currency="TWD", max_value=Decimal("100"))
    assert remedies.authority_limit(staff, "TWD") == Decimal("100")
    assert remedies.authority_limit(staff, "EUR") == Decimal("0")


def test_above_the_limit_goes_up_the_tree_and_escalates_on_timeout(
    customer, open_case, users, taipei_mgr
):
    WebhookSubscription.objects.create(url="https://example.com/h", event_types=["case.escalated"])
    case = working_case(customer, open_case, users)
    remedy = remedies.propose_remedy(
        case.pk,
        case.version,
        agent(users),
        kind="refund",
        value="12000",
        currency="TWD",
        now=MONDAY,
    )
    assert remedy.status == "awaiting_approval"
    first = ApprovalRequest.objects.get()
    assert first.approver == taipei_mgr and first.level == 1
    assert Case.objects.get(pk=case.pk).state == "awaiting_approval"
    assert first.due_at == MONDAY + dt.timedelta(hours=4)  # 240 business minutes

    assert remedies.escalate_overdue_approvals(now=first.due_at - dt.timedelta(minutes=1)) == 0
    assert remedies.escalate_overdue_approvals(now=first.due_at) == 1
    assert remedies.escalate_overdue_approvals(now=first.due_at) == 0  # once
    first.refresh_from_db()
    second = ApprovalRequest.objects.exclude(pk=first.pk).get()
    assert first.decision == "escalated"
    assert second.approver == users["north_mgr"].staff and second.level == 2
    types = list(
        WebhookDelivery.objects.order_by("pk").values_list("event_type", "payload__data__reason")
    )
    assert types == [("case.escalated", "approval"), ("case.escalated", "approval_overdue")]

    with pytest.raises(actions.CaseError, match="asked of"):
        remedies.decide_approval(second.pk, True, "", agent(users), now=second.due_at)
    remedies.decide_approval(
        second.pk, True, "Long-standing customer", actions.Actor(users["north_mgr"].staff)
    )
    remedy.refresh_from_db()
    assert remedy.status == "approved" and remedy.approved_by == users["north_mgr"].staff
    assert Case.objects.get(pk=case.pk).state == "in_progress"
    with pytest.raises(actions.CaseError, match="already decided"):
        remedies.decide_approval(first.pk, True, "", actions.Actor(taipei_mgr))


def test_a_manager_without_enough_authority_is_passed_over(customer, open_case, users, taipei_mgr):
    case = working_case(customer, open_case, users)
    remedies.propose_remedy(
        case.pk,
        case.version,
        agent(users),
        kind="refund",
        value="100000",
        currency="TWD",
        now=MONDAY,
    )
    request = ApprovalRequest.objects.get()
    assert request.approver == users["cx"].staff  # unit managers may grant 30,000 TWD alone


def test_refusal_needs_a_reason(customer, open_case, users, taipei_mgr):
    case = working_case(customer, open_case, users)
    remedies.propose_remedy(
        case.pk, case.version, agent(users), kind="refund", value="12000", currency="TWD"
    )
    request = ApprovalRequest.objects.get()
    with pytest.raises(actions.CaseError, match="reason"):
        remedies.decide_approval(request.pk, False, " ", actions.Actor(taipei_mgr))
    remedies.decide_approval(request.pk, False, "Outside policy", actions.Actor(taipei_mgr))
    assert request.remedy.__class__.objects.get(pk=request.remedy_id).status == "refused"
    assert CaseEvent.objects.filter(case=case, kind="approval", note="Outside policy").exists()


def test_consent_before_grant(customer, open_case, users):
    case = working_case(customer, open_case, users)
    remedy = remedies.propose_remedy(
        case.pk, case.version, agent(users), kind="voucher", value="800", currency="TWD"
    )
    case.refresh_from_db()
    with pytest.raises(states.IllegalTransition, match="accepted"):
        remedies.grant_remedy(case.pk, case.version, remedy.pk, agent(users))
    consent.offer_remedy(case.pk, case.version, remedy.pk, agent(users))
    case.refresh_from_db()
    with pytest.raises(states.IllegalTransition, match="accepted"):
        remedies.grant_remedy(case.pk, case.version, remedy.pk, agent(users))
    given = MONDAY + dt.timedelta(hours=1)
    consent.record_consent(
        case.pk, case.version, remedy.pk, True, "phone", agent(users), given_at=given
    )
    remedy.refresh_from_db()
    assert (remedy.status, remedy.consent_channel, remedy.consent_at) == (
        "accepted",
        "phone",
        given,
    )
    case.refresh_from_db()
    granted = remedies.grant_remedy(case.pk, case.version, remedy.pk, agent(users))
    assert granted.status == "granted" and granted.granted_by == users["taipei_agent"].staff


def test_consent_by_signed_link(customer, open_case, users):
    case = working_case(customer, open_case, users)
    remedy = remedies.propose_remedy(
        case.pk, case.version, agent(users), kind="voucher", value="800", currency="TWD"
    )
    case.refresh_from_db()
    consent.offer_remedy(case.pk, case.version, remedy.pk, agent(users))
    token = consent.accept_token(remedy)
    with pytest.raises(actions.CaseError, match="not valid"):
        consent.accept_by_link(token[:-2] + "xx")
    accepted = consent.accept_by_link(token)
    assert accepted.status == "accepted" and accepted.consent_channel == "link"
    with pytest.raises(states.IllegalTransition):
        consent.accept_by_link(token)  # not twice
    assert signing.loads(token, salt=consent.ACCEPT_SALT)["r"] == remedy.pk
