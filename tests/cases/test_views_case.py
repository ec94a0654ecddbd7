"""The case page: every section shows, each action posts to actions.*, a stale save is a conflict
that overwrites nothing, and another unit's case is a 404 everywhere."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rapport.cases import actions
from rapport.cases.actions import lifecycle, notes, promises, remedies
from rapport.cases.models import AuthorityLimit, Case, CaseEvent, Promise, Remedy, Transfer
from rapport.org.models import Staff
from tests.cases.conftest import agent
from tests.conftest import make_user

ACTIONS = [
    "acknowledge", "transition", "note", "reply", "transfer", "remedy", "offer", "consent",
    "grant", "withdraw", "promise", "settle", "resolve", "recovery", "close", "reopen",
]  # fmt: skip


def url(case, action=None):
    if action is None:
        return reverse("cases:detail", args=[case.pk])
    return reverse("cases:act", args=[case.pk, action])


def post(client, case, action, **data):
    data.setdefault("version", Case.objects.get(pk=case.pk).version)
    return client.post(url(case, action), data)


@pytest.fixture
def case(customer, open_case, users):
    return open_case(customer, staff_id=users["taipei_agent"].staff.pk)


def test_case_page_shows_every_section(client, users, case):
    client.force_login(users["taipei_agent"])
    response = client.get(url(case))
    assert response.status_code == 200
    html = response.content.decode()
    for needle in (
        case.ref,
        "Car not ready on time",
        "Lin Mei",
        reverse("customers:detail", args=[case.customer_id]),
        "SLA clocks",
        "Acknowledge",
        "First response",
        "Audit trail",
        "Customer timeline",
        'name="version" value="1"',
        "Score before → after",
    ):
        assert needle in html, needle
    # The customer's timeline is beside the case, with the case itself on it.
    assert f"Case {case.ref} opened" in html


def test_acknowledge_then_work_then_reply_and_note(client, users, case):
    client.force_login(users["taipei_agent"])
    response = post(client, case, "acknowledge")
    assert response.status_code == 302 and response.url.startswith(url(case))
    case.refresh_from_db()
    assert case.state == "acknowledged" and case.acknowledged_at is not None
    post(client, case, "transition", to="in_progress", note="starting")
    assert Case.objects.get(pk=case.pk).state == "in_progress"
    post(client, case, "note", text="Called the workshop")
    assert CaseEvent.objects.filter(case=case, kind="note", note="Called the workshop").exists()
    post(client, case, "reply", mode="update", body="We are on it.")
    case.refresh_from_db()
    assert case.first_response_at is not None
    assert case.messages.filter(kind="update").exists()
    by = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    post(client, case, "reply", mode="checking", what="the repair record", by=by)
    assert Promise.objects.filter(case=case, state="open").count() == 1
    page = client.get(url(case)).content.decode()
    assert "Called the workshop" in page and "the repair record" in page


def test_refusals_show_on_the_page_and_keep_the_input(client, users, case):
    client.force_login(users["taipei_agent"])
    # Moving a new case to "in progress" is not allowed: the machine says where it can go.
    response = post(client, case, "transition", to="in_progress")
    assert response.status_code == 422
    response = post(client, case, "reply", mode="checking", what="the invoice", by="")
    assert response.status_code == 422
    html = response.content.decode()
    assert "Say by when you will come back" in html and 'value="the invoice"' in html
    response = post(client, case, "transfer", to_staff="", reason="")
    assert response.status_code == 422
    assert Case.objects.get(pk=case.pk).version == case.version  # nothing changed


def test_stale_version_is_a_conflict_and_overwrites_nothing(client, users, case):
    client.force_login(users["taipei_agent"])
    seen = case.version
    # Someone else acknowledges first.
    lifecycle.acknowledge(case.pk, seen, actions.Actor(staff=users["north_mgr"].staff))
    before = Case.objects.get(pk=case.pk)
    response = post(client, case, "note", version=seen, text="My late note")
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by someone else" in html
    assert "My late note" in html  # the input is kept
    assert f'name="version" value="{before.version}"' in html  # re-apply knowingly
    after = Case.objects.get(pk=case.pk)
    assert after.version == before.version and after.state == "acknowledged"
    assert not CaseEvent.objects.filter(case=case, kind="note").exists()
    # An htmx post gets the case column back with the message (htmx swaps 200 only).
    response = client.post(
        url(case, "resolve"),
        {"version": seen, "cause": "price", "fix": "x"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="case-body",
    )
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "acknowledged"


def test_htmx_success_returns_the_case_column(client, users, case):
    client.force_login(users["taipei_agent"])
    response = client.post(
        url(case, "acknowledge"),
        {"version": case.version},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="case-body",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-body"') and "<html" not in html
    assert "Acknowledged" in html


def test_transfer_needs_a_reason_and_goes_to_staff_in_scope(client, users, case, org):
    colleague = make_user("tpagent2", org["taipei"], "agent").staff
    client.force_login(users["taipei_agent"])
    page = client.get(url(case)).content.decode()
    assert "Tpagent2" in page and "Khhagent" not in page  # only staff of my units
    response = post(client, case, "transfer", to_staff=users["khh_agent"].staff.pk, reason="x")
    assert (
        response.status_code == 422 and "Choose someone in your units" in response.content.decode()
    )
    response = post(client, case, "transfer", to_staff=colleague.pk, reason="")
    assert response.status_code == 422
    response = post(client, case, "transfer", to_staff=colleague.pk, reason="Knows the model")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.owner == colleague and case.transfer_count == 1
    assert Transfer.objects.get(case=case).reason == "Knows the model"


def test_remedy_within_limit_offer_consent_grant_resolve_close_reopen(client, users, case):
    AuthorityLimit.objects.update_or_create(
        role="agent", staff=None, currency="TWD", defaults={"max_value": Decimal("1000")}
    )
    client.force_login(users["taipei_agent"])
    post(client, case, "acknowledge")
    page = client.get(url(case)).content.decode()
    assert "1000.00 TWD" in page  # the agent sees their limit
    post(client, case, "remedy", kind="voucher", value="500", currency="twd", description="Voucher")
    remedy = Remedy.objects.get(case=case)
    assert remedy.status == "approved" and remedy.currency == "TWD"
    post(client, case, "offer", remedy=remedy.pk)
    assert Remedy.objects.get(pk=remedy.pk).status == "offered"
    response = post(client, case, "grant", remedy=remedy.pk)  # not accepted yet: refused
    assert response.status_code == 422 and "accepted" in response.content.decode()
    post(client, case, "consent", remedy=remedy.pk, accepted="yes", channel="phone", given_at="")
    remedy.refresh_from_db()
    assert remedy.status == "accepted" and remedy.consent_channel == "phone"
    post(client, case, "grant", remedy=remedy.pk)
    assert Remedy.objects.get(pk=remedy.pk).status == "granted"
    response = post(client, case, "resolve", cause="", fix="")
    assert response.status_code == 422
    post(
        client,
        case,
        "resolve",
        cause="core_failure",
        sub_cause="brakes",
        fix="Replaced pads",
        reusable="on",
    )
    case.refresh_from_db()
    assert case.state == "resolved" and case.cause == "core_failure" and case.reusable
    response = post(client, case, "close", basis="confirmed", confirmation_channel="")
    assert response.status_code == 422 and "channel" in response.content.decode()
    response = post(client, case, "close", basis="no_reply")
    assert response.status_code == 422 and "Wait" in response.content.decode()
    post(client, case, "close", basis="confirmed", confirmation_channel="phone")
    assert Case.objects.get(pk=case.pk).state == "closed"
    page = client.get(url(case)).content.decode()
    assert "Move to" not in page
    response = post(client, case, "transition", to="in_progress")  # reopening needs its reason
    assert response.status_code == 422 and Case.objects.get(pk=case.pk).state == "closed"
    response = post(client, case, "reopen", reason="")
    assert response.status_code == 422
    post(client, case, "reopen", reason="Noise is back")
    assert Case.objects.get(pk=case.pk).state == "in_progress"


def test_remedy_above_limit_waits_for_approval(client, users, case, org):
    make_user("tpmgr", org["taipei"], "unit_manager")
    client.force_login(users["taipei_agent"])
    post(client, case, "acknowledge")
    page = client.get(url(case)).content.decode()
    assert "3000.00 TWD" in page and "needs a manager" in page  # the default agent limit
    post(client, case, "remedy", kind="refund", value="9000", currency="TWD")
    remedy = Remedy.objects.get(case=case)
    assert remedy.status == "awaiting_approval"
    assert Case.objects.get(pk=case.pk).state == "awaiting_approval"
    page = client.get(url(case)).content.decode()
    assert "Tpmgr" in page  # who was asked
    post(client, case, "withdraw", remedy=remedy.pk, reason="Customer changed mind")
    assert Remedy.objects.get(pk=remedy.pk).status == "withdrawn"
    assert Case.objects.get(pk=case.pk).state == "in_progress"


def test_promises_made_and_settled(client, users, case):
    client.force_login(users["taipei_agent"])
    due = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    post(client, case, "promise", text="Call back with the quote", due_at=due)
    promise = Promise.objects.get(case=case)
    post(client, case, "settle", promise=promise.pk, kept="yes")
    assert Promise.objects.get(pk=promise.pk).state == "kept"
    past = (timezone.localtime() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = post(client, case, "promise", text="Late", due_at=past)
    assert response.status_code == 422 and "future" in response.content.decode()


def test_other_units_case_is_404_in_every_view(client, users, khh_customer, open_case):
    other = open_case(khh_customer, staff_id=users["khh_agent"].staff.pk)
    client.force_login(users["taipei_agent"])
    assert client.get(url(other)).status_code == 404
    for action in ACTIONS:
        response = client.post(url(other, action), {"version": other.version})
        assert response.status_code == 404, action
    assert Case.objects.get(pk=other.pk).version == other.version
    # A case of my unit is fine; the Kaohsiung agent sees theirs.
    client.force_login(users["khh_agent"])
    assert client.get(url(other)).status_code == 200


def test_analyst_reads_but_cannot_act(client, users, case):
    client.force_login(users["analyst"])
    page = client.get(url(case))
    assert page.status_code == 200 and "Next step" not in page.content.decode()
    assert post(client, case, "acknowledge").status_code == 403


def test_unknown_action_is_404(client, users, case):
    client.force_login(users["taipei_agent"])
    assert post(client, case, "explode").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, case):
    assert client.get(url(case)).status_code == 302


def test_staff_cannot_be_in_two_places():
    assert Staff.Role.AGENT == "agent"


def test_reusable_resolutions_are_suggested(client, users, customer, khh_customer, open_case):
    me = agent(users)
    done = open_case(customer, staff_id=me.staff.pk, subject="Brake noise after service")
    done = lifecycle.acknowledge(done.pk, done.version, me)
    lifecycle.resolve(
        done.pk, done.version, me, cause="core_failure", fix="Re-seated the pads", reusable=True
    )
    fresh = open_case(khh_customer, staff_id=users["khh_agent"].staff.pk, subject="Brake noise")
    client.force_login(users["khh_agent"])
    html = client.get(url(fresh)).content.decode()
    assert "What fixed similar cases" in html and "Re-seated the pads" in html
    assert "Lin Mei" not in html  # knowledge never shows the other customer


def test_case_page_query_count_does_not_grow(client, users, case):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    me = agent(users)
    client.force_login(users["taipei_agent"])
    lifecycle.acknowledge(case.pk, case.version, me)

    def add(n: int) -> None:
        def version() -> int:
            return Case.objects.get(pk=case.pk).version

        for i in range(n):
            remedies.propose_remedy(
                case.pk, version(), me, kind="voucher", value=10 + i, currency="TWD"
            )
            notes.add_note(case.pk, version(), f"note {i}", me)
            due = timezone.now() + dt.timedelta(days=1)
            promises.make_promise(case.pk, version(), f"promise {i}", due, me)

    add(1)
    client.get(url(case))  # warm the session and permission caches
    with CaptureQueriesContext(connection) as small:
        client.get(url(case))
    add(5)
    with CaptureQueriesContext(connection) as big:
        assert "promise 4" in client.get(url(case)).content.decode()
    assert len(big.captured_queries) == len(small.captured_queries)
