"""The approval queue: what waits for me (and my units), decided with a reason through
remedies.decide_approval; scoped like every case page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rapport.cases.actions import lifecycle, remedies
from rapport.cases.models import ApprovalRequest, Case, Remedy
from tests.cases.conftest import agent
from tests.conftest import make_user

URL = reverse("cases:approvals")


@pytest.fixture
def pending(customer, open_case, users, org):
    make_user("tpmgr", org["taipei"], "unit_manager")
    me = agent(users)
    case = open_case(customer, staff_id=me.staff.pk)
    case = lifecycle.acknowledge(case.pk, case.version, me)
    remedy = remedies.propose_remedy(
        case.pk, case.version, me, kind="refund", value=9000, currency="TWD"
    )
    return ApprovalRequest.objects.get(remedy=remedy)


def test_manager_sees_and_approves(client, pending):
    client.force_login(pending.approver.user)
    page = client.get(URL).content.decode()
    assert pending.remedy.case.ref in page and "9000.00 TWD" in page
    response = client.post(
        reverse("cases:decide", args=[pending.pk]),
        {f"a{pending.pk}-approve": "yes", f"a{pending.pk}-reason": "Fair"},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.decision == "approved" and pending.reason == "Fair"
    assert Remedy.objects.get(pk=pending.remedy_id).status == "approved"
    assert Case.objects.get(pk=pending.remedy.case_id).state == "in_progress"
    assert "Recently decided" in client.get(URL).content.decode()


def test_refusal_needs_a_reason(client, pending):
    client.force_login(pending.approver.user)
    url = reverse("cases:decide", args=[pending.pk])
    response = client.post(
        url, {f"a{pending.pk}-approve": "no", f"a{pending.pk}-reason": ""}, follow=True
    )
    assert "Give the reason for refusing" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=pending.pk).decision == "pending"
    client.post(url, {f"a{pending.pk}-approve": "no", f"a{pending.pk}-reason": "Too much"})
    assert ApprovalRequest.objects.get(pk=pending.pk).decision == "refused"
    response = client.post(url, {f"a{pending.pk}-approve": "yes"}, follow=True)
    assert "already decided" in response.content.decode()


def test_region_manager_sees_the_units_queue_but_only_decides_their_own(client, users, pending):
    client.force_login(users["north_mgr"])
    assert pending.remedy.case.ref not in client.get(URL).content.decode()  # asked of someone else
    page = client.get(URL, {"show": "units"}).content.decode()
    assert pending.remedy.case.ref in page and "Only the person asked" in page
    response = client.post(
        reverse("cases:decide", args=[pending.pk]), {f"a{pending.pk}-approve": "yes"}, follow=True
    )
    assert "was asked of" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=pending.pk).decision == "pending"


def test_other_unit_and_agents(client, users, pending, org):
    make_user("khhmgr", org["kaohsiung"], "unit_manager")
    client.force_login(users["khh_agent"])
    assert client.get(URL).status_code == 403  # agents do not approve
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username="khhmgr"))
    assert pending.remedy.case.ref not in client.get(URL, {"show": "units"}).content.decode()
    response = client.post(
        reverse("cases:decide", args=[pending.pk]), {f"a{pending.pk}-approve": "yes"}
    )
    assert response.status_code == 404
    # A CX manager sees and may decide everything.
    client.force_login(users["cx"])
    page = client.get(URL, {"show": "units"}).content.decode()
    assert pending.remedy.case.ref in page and "Only the person asked" not in page
