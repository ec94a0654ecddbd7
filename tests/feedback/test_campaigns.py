"""Campaigns: members drawn from the segment with a seeded control group, response rates from
touchpoints, lift, pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from rapport.customers.models import Customer, SourceSystem
from rapport.feedback import campaigns
from rapport.feedback.actions import record_feedback
from rapport.feedback.models import Campaign, CampaignMember
from rapport.touchpoints.models import Touchpoint
from tests.feedback.conftest import POSITIVE_EN, item

pytestmark = pytest.mark.django_db
START = dt.date(2026, 10, 1)


@pytest.fixture
def people(org):
    rows = []
    for i in range(200):
        unit = org["taipei"] if i % 2 else org["kaohsiung"]
        rows.append(
            Customer(
                display_name=f"C{i}",
                home_unit=unit,
                attributes={"tier": "gold" if i % 4 == 0 else "std"},
            )
        )
    return Customer.objects.bulk_create(rows)


def make_campaign(**kw):  # type: ignore[no-untyped-def]
    fields = dict(
        key="winter", name="Winter", starts_on=START, ends_on=START + dt.timedelta(days=30),
        control_share=0.25, seed=7,
    )  # fmt: skip
    fields.update(kw)
    return Campaign.objects.create(**fields)


def touch(customer, kind, key="winter", day=5):  # type: ignore[no-untyped-def]
    src = SourceSystem.objects.get_or_create(code="mkt", defaults={"name": "mkt"})[0]
    Touchpoint.objects.create(
        customer=customer,
        kind=kind,
        occurred_at=dt.datetime.combine(START + dt.timedelta(days=day), dt.time(12), tzinfo=dt.UTC),
        source=src,
        external_id=f"{kind}-{customer.pk}-{key}-{day}",
        context={"campaign": key},
    )


def test_members_and_a_seeded_control_group(people):
    c = make_campaign()
    treated, control = campaigns.draw_members(c)
    assert (treated, control) == (150, 50)
    first = set(
        CampaignMember.objects.filter(campaign=c, group="control").values_list(
            "customer", flat=True
        )
    )
    campaigns.draw_members(c)  # again: the same group
    again = set(
        CampaignMember.objects.filter(campaign=c, group="control").values_list(
            "customer", flat=True
        )
    )
    assert first == again


def test_a_segment_by_unit_and_attribute(people):
    c = make_campaign(
        segment={"unit": "north", "attributes": {"tier": ["gold", "std"]}}, control_share=0
    )
    assert campaigns.draw_members(c) == (100, 0)
    c2 = make_campaign(key="gold", segment={"attributes": {"tier": "gold"}}, control_share=0)
    assert campaigns.draw_members(c2) == (50, 0)
    with pytest.raises(campaigns.CampaignError):
        campaigns.draw_members(make_campaign(key="x", segment={"unit": "atlantis"}))


def test_response_rates_and_lift(people):
    c = make_campaign()
    campaigns.draw_members(c)
    groups = dict(CampaignMember.objects.filter(campaign=c).values_list("customer", "group"))
    by_id = {p.pk: p for p in people}
    treated = [by_id[i] for i, g in groups.items() if g == "treatment"]
    control = [by_id[i] for i, g in groups.items() if g == "control"]
    for p in treated[:100]:
        touch(p, "campaign_sent")
    for p in treated[:30]:
        touch(p, "campaign_response")
    for p in treated[120:125]:  # responded but was never sent: not counted among the reached
        touch(p, "campaign_response")
    for p in control[:5]:
        touch(p, "campaign_response")
    touch(control[10], "campaign_response", key="other")  # another campaign
    touch(control[11], "campaign_response", day=80)  # after the window
    (row,) = campaigns.results(c)
    assert (row.treatment.responded, row.treatment.total, row.sent) == (30, 100, 100)
    assert (row.control.responded, row.control.total) == (5, 50)
    assert row.lift.difference == pytest.approx(0.30 - 0.10)
    assert row.lift.significant
    by_unit = campaigns.results(c, "unit")
    assert {r.segment for r in by_unit} == {"Taipei", "Kaohsiung"}
    assert sum(r.treatment.total for r in by_unit) == 100
    by_tier = campaigns.results(c, "tier")
    assert {r.segment for r in by_tier} == {"gold", "std"}


def test_campaign_pages(people, users):
    client = Client()
    client.force_login(users["cx"])
    response = client.post(
        reverse("feedback:campaign_new"),
        {
            "name": "Battery offer",
            "key": "battery",
            "offer": "15% off",
            "starts_on": "2026-10-01",
            "ends_on": "2026-10-31",
            "response_days": 14,
            "control_share": 0.2,
            "seed": 3,
            "segment_unit": "south",
            "segment_attributes": "",
            "control_list": "",
        },
    )
    assert response.status_code == 302, response.content
    c = Campaign.objects.get(key="battery")
    assert c.segment == {"unit": "south"}
    assert CampaignMember.objects.filter(campaign=c).count() == 100
    member = CampaignMember.objects.filter(campaign=c).first()
    record_feedback([item(POSITIVE_EN, customer_id=member.customer_id, campaign_key="battery")])
    page = client.get(reverse("feedback:campaign", args=[c.pk]), {"by": "unit"})
    html = page.content.decode()
    assert page.status_code == 200 and "Kaohsiung" in html and "Excellent service" in html
    assert client.get(reverse("feedback:campaigns")).status_code == 200
    bad = client.post(
        reverse("feedback:campaign_new"),
        {"name": "X", "key": "x", "starts_on": "2026-10-31", "ends_on": "2026-10-01",
         "response_days": 1, "control_share": 0.9, "seed": 0, "control_list": "abc"},
    )  # fmt: skip
    assert bad.status_code == 200
    errors = bad.context["form"].errors
    assert {"ends_on", "control_share", "control_list"} <= set(errors)
    analyst = Client()
    analyst.force_login(users["analyst"])
    assert analyst.get(reverse("feedback:campaign", args=[c.pk])).status_code == 200
    assert analyst.get(reverse("feedback:campaign_new")).status_code == 403


def test_an_explicit_control_list(people, users):
    c = make_campaign(control_share=0)
    ids = [p.pk for p in people[:3]] + [999999]
    assert campaigns.draw_members(c, ids) == (197, 3)


def test_a_unit_manager_sees_their_units_members_only(people, users):
    c = make_campaign(control_share=0)
    campaigns.draw_members(c)
    client = Client()
    client.force_login(users["north_mgr"])
    page = client.get(reverse("feedback:campaign", args=[c.pk]))
    assert page.context["overall"].treatment.total == 100  # Taipei's half
    assert page.context["sizes"] == {"treatment": 100}
