"""Case reports (rapport.cases.reports): each table's figures on a small history built through
the real actions, the page and its CSV export, and unit scoping."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rapport.cases import actions, reports
from rapport.cases.actions import lifecycle, ownership, remedies, sla
from rapport.cases.models import ApprovalRequest, Case
from rapport.customers.models import Customer
from rapport.surveys import actions as survey_actions
from rapport.surveys.models import Response

from .conftest import MONDAY, agent

TZ = MONDAY.tzinfo
H = dt.timedelta(hours=1)
PERIOD = reports.Period(dt.datetime(2025, 3, 1, tzinfo=TZ), dt.datetime(2025, 4, 1, tzinfo=TZ), TZ)


def person(org, name, unit="taipei"):
    return Customer.objects.create(
        display_name=name, email=f"{name}@example.com", home_unit=org[unit]
    )


@pytest.fixture
def history(org, users, open_case):
    """A: Taipei, acknowledged after 1 h, resolved after 5 h (core failure), first contact.
    B: Taipei, acknowledged after 3 h, passed on to Kaohsiung, resolved after 10 h (price).
    C: Kaohsiung, opened a day later, never acknowledged: its targets run out."""
    system = actions.SYSTEM
    a = open_case(person(org, "a"))
    lifecycle.acknowledge(a.pk, None, system, now=MONDAY + H)
    lifecycle.resolve(a.pk, None, system, cause="core_failure", fix="fixed", now=MONDAY + 5 * H)
    b = open_case(person(org, "b"))
    lifecycle.acknowledge(b.pk, None, system, now=MONDAY + 3 * H)
    ownership.transfer(
        b.pk,
        None,
        users["khh_agent"].staff,
        "needs the body shop",
        agent(users),
        now=MONDAY + 4 * H,
    )
    lifecycle.resolve(b.pk, None, system, cause="price", fix="voucher", now=MONDAY + 10 * H)
    c = open_case(person(org, "c", "kaohsiung"), now=MONDAY + 24 * H)
    sla.sweep_sla(now=MONDAY + 96 * H)
    return {"a": a, "b": b, "c": c}


def table(key, cases=None):
    return reports.build(key, cases if cases is not None else Case.objects.all(), PERIOD)


def test_volume_by_cause(history):
    rows = {r[0]: r[1:] for r in table("volume").rows}
    assert rows["Core service failure"] == [1, 33.3]
    assert rows["Price"] == [1, 33.3]
    assert rows["Not resolved yet"] == [1, 33.3]
    assert rows["Ethical problems"] == [0, 0.0]


def test_times_median_and_p90(history):
    rows = {r[0]: r[1:] for r in table("times").rows}
    assert rows["All"] == [2, 2.0, 2.8, 2, 7.5, 9.5]
    assert rows["Taipei"] == [1, 1.0, 1.0, 1, 5.0, 5.0]
    assert rows["Kaohsiung"][:4] == [1, 3.0, 3.0, 1]  # B ended there (the transfer moved it)


def test_sla_attainment_per_target(history):
    rows = {r[0]: r[1:] for r in table("sla").rows}
    ack = next(v for k, v in rows.items() if "ackn" in k.lower())
    assert ack == [2, 1, 0, 66.7]  # A and B in time, C missed
    response = next(v for k, v in rows.items() if "response" in k.lower())
    assert response == [0, 1, 2, 0.0]  # nobody wrote to the customer; C missed it


def test_first_contact_resolution(history):
    assert table("fcr").rows[0] == ["All", 2, 1, 50.0]


def test_transfer_rates(history):
    units = {r[0]: r[1:] for r in table("transfers_unit").rows}
    assert units["Taipei"] == [1, 1, 50.0]
    assert units["Kaohsiung"] == [2, 0, 0.0]
    people = {r[0]: r[1:] for r in table("transfers_person").rows}
    assert people["Tpagent"] == [2, 1, 50.0]
    assert people["Khhagent"] == [2, 0, 0.0]


def test_weekly_trend(history):
    rows = table("trend").rows
    assert rows[0][:2] == ["2025-03-03", 3]


def test_scope_limits_every_table(history, org):
    taipei = reports.scope(Case.objects.all(), org["taipei"].path)
    assert table("fcr", taipei).rows[0] == ["All", 1, 1, 100.0]
    assert {r[0] for r in table("transfers_unit", taipei).rows} == {"Taipei"}


def test_approval_turnaround(org, users, open_case):
    case = open_case(person(org, "e"))
    lifecycle.acknowledge(case.pk, None, actions.SYSTEM, now=MONDAY)
    remedies.propose_remedy(
        case.pk, None, agent(users), kind="refund", value=Decimal("9000"), currency="TWD",
        now=MONDAY + H,
    )  # fmt: skip
    request = ApprovalRequest.objects.get()
    remedies.decide_approval(
        request.pk, True, "ok", actions.Actor(staff=request.approver), now=MONDAY + 3 * H
    )
    rows = {r[0]: r[1:] for r in table("approvals").rows}
    assert rows["All"] == [1, 2.0, 2.0]
    assert rows["Approved"] == [1, 2.0, 2.0] and rows["Refused"] == [0, None, None]


def test_recovery_rate(org, users, open_case):
    survey = survey_actions.create_survey_from_template("nps", "NPS", publish=True)
    version = survey.versions.order_by("-number").first()

    def answer(customer, score, klass, at):
        return Response.objects.create(
            survey=survey, version=version, customer=customer, channel="email",
            state="completed", started_at=at, completed_at=at, nps_score=score, nps_class=klass,
        )  # fmt: skip

    for name, after, klass in (
        ("r1", 8, "passive"),
        ("r2", 10, "promoter"),
        ("r3", 2, "detractor"),
    ):
        customer = person(org, name)
        before = answer(customer, 3, "detractor", MONDAY)
        case = open_case(customer, response_id=before.pk)
        recovery = answer(customer, after, klass, MONDAY + 48 * H)
        Case.objects.filter(pk=case.pk).update(
            state="closed", closed_at=MONDAY + 49 * H, recovery_response=recovery
        )
    assert table("recovery").rows == [[3, 0, 3, 2, 1, 66.7]]


def test_page_csv_and_scoping(client, users, history):
    client.force_login(users["taipei_agent"])
    url = reverse("cases:reports")
    page = client.get(url, {"from": "2025-03-01", "to": "2025-03-31"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "First-contact resolution" in html and "chart-volume" in html
    assert client.get(url, {"unit": "kaohsiung"}).status_code == 404
    bad = client.get(url, {"from": "March"})
    assert "Not a date" in bad.content.decode()
    csv_url = reverse("cases:report_csv", args=["fcr"])
    got = client.get(csv_url, {"from": "2025-03-01", "to": "2025-03-31"})
    assert got["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0] == ["Unit", "Resolved", "First contact", "Rate (%)"]
    assert rows[1] == ["All", "1", "1", "100.0"]  # only Taipei's case: B left for Kaohsiung
    assert client.get(reverse("cases:report_csv", args=["nope"])).status_code == 404
    client.force_login(users["cx"])
    every = client.get(csv_url, {"from": "2025-03-01", "to": "2025-03-31"})
    assert list(csv.reader(io.StringIO(every.content.decode("utf-8-sig"))))[1][:2] == ["All", "2"]


def test_default_period_is_recent(client, users, db):
    client.force_login(users["cx"])
    page = client.get(reverse("cases:reports"))
    today = timezone.now().astimezone(TZ).date()
    assert page.context["params"]["to"] == today.isoformat()


def test_report_api_scoped(client, users, history):
    client.force_login(users["taipei_agent"])
    url = "/api/v1/cases/reports/fcr"
    got = client.get(url, {"from": "2025-03-01", "to": "2025-03-31"})
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["unit"] == "taipei" and body["rows"][0] == ["All", 1, 1, 100.0]
    assert client.get(url, {"unit": "kaohsiung"}).status_code == 404
    assert client.get(url, {"unit": "nowhere"}).status_code == 422
    assert client.get("/api/v1/cases/reports/nope").status_code == 404
    client.force_login(users["cx"])
    every = client.get(url, {"from": "2025-03-01", "to": "2025-03-31"}).json()
    assert every["unit"] == "acme" and every["rows"][0][:2] == ["All", 2]
