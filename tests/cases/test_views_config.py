"""Configuration editors (CX managers and admins): validated forms for rules, SLA policies,
calendars, authority limits, message templates and the case settings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rapport.cases.models import (
    AuthorityLimit,
    BusinessCalendar,
    CaseRule,
    CaseSettings,
    MessageTemplate,
    SlaPolicy,
)


@pytest.fixture
def cx(client, users):
    client.force_login(users["cx"])
    return client


def test_only_cx_managers_and_admins_configure(client, users):
    for name in ("taipei_agent", "north_mgr", "analyst"):
        client.force_login(users[name])
        assert client.get(reverse("cases:config")).status_code == 403, name
        assert client.get(reverse("cases:config_list", args=["rules"])).status_code == 403
    for name in ("cx", "admin"):
        client.force_login(users[name])
        assert client.get(reverse("cases:config")).status_code == 200


def test_every_section_lists_and_edits(cx):
    for kind in ("rules", "sla", "calendars", "limits", "templates"):
        assert cx.get(reverse("cases:config_list", args=[kind])).status_code == 200, kind
        assert cx.get(reverse("cases:config_new", args=[kind])).status_code == 200, kind
    assert cx.get(reverse("cases:config_list", args=["nope"])).status_code == 404
    page = cx.get(reverse("cases:config_list", args=["rules"])).content.decode()
    assert "NPS score 6 or less" in page  # the default rule in words
    assert "Three contacts within 7 days" in page


def test_rule_params_are_validated(cx):
    url = reverse("cases:config_new", args=["rules"])
    base = {
        "key": "low-nps",
        "name": "Low NPS",
        "condition": "nps_at_most",
        "topic": "experience",
        "severity": "high",
        "order": 5,
        "active": "on",
    }
    response = cx.post(url, {**base, "params": '{"max": "six"}'})
    assert response.status_code == 422 and "params.max" in response.content.decode()
    response = cx.post(url, {**base, "params": '{"max": 4'})
    assert response.status_code == 422 and "line 1" in response.content.decode()
    response = cx.post(url, {**base, "params": "[1]"})
    assert response.status_code == 422
    response = cx.post(url, {**base, "params": '{"max": 4}'})
    assert response.status_code == 302
    rule = CaseRule.objects.get(key="low-nps")
    assert rule.params == {"max": 4} and rule.severity == "high"
    edit = cx.get(reverse("cases:config_edit", args=["rules", rule.pk])).content.decode()
    assert "{&quot;max&quot;: 4}" in edit
    cx.post(reverse("cases:config_delete", args=["rules", rule.pk]))
    assert not CaseRule.objects.filter(key="low-nps").exists()


def test_sla_policy_order_is_checked(cx):
    policy = SlaPolicy.objects.get(priority="p1")
    url = reverse("cases:config_edit", args=["sla", policy.pk])
    data = {
        "priority": "p1",
        "acknowledge_minutes": 60,
        "first_response_minutes": 30,
        "resolve_minutes": 600,
    }
    response = cx.post(url, data)
    assert response.status_code == 422 and "cannot be due earlier" in response.content.decode()
    cx.post(url, {**data, "first_response_minutes": 90})
    assert SlaPolicy.objects.get(priority="p1").first_response_minutes == 90


def test_calendar_hours_holidays_and_closed_days(cx, org):
    url = reverse("cases:config_new", args=["calendars"])
    data = {
        "unit": org["taipei"].pk,
        "holiday_country": "TW",
        "holiday_subdivision": "",
        "closed_text": "2025-03-10\n2025-03-11",
        "hours_mon": "09:00-12:00, 13:00-18:00",
        "hours_tue": "09:00-18:00",
        "hours_wed": "09:00-18:00",
        "hours_thu": "09:00-18:00",
        "hours_fri": "09:00-18:00",
        "hours_sat": "",
        "hours_sun": "",
    }
    response = cx.post(url, {**data, "hours_mon": "9 to 5"})
    assert response.status_code == 422 and "09:00-18:00" in response.content.decode()
    response = cx.post(url, {**data, "closed_text": "someday"})
    assert response.status_code == 422 and "closed_dates" in response.content.decode()
    response = cx.post(url, {**data, "holiday_country": "XX"})
    assert response.status_code == 422
    response = cx.post(url, data)
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(unit=org["taipei"])
    assert calendar.hours["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert (
        calendar.closed_dates == ["2025-03-10", "2025-03-11"] and calendar.holiday_country == "TW"
    )


def test_authority_limits_role_xor_person(cx, users):
    url = reverse("cases:config_new", args=["limits"])
    staff = users["taipei_agent"].staff
    response = cx.post(
        url, {"role": "agent", "staff": staff.pk, "currency": "TWD", "max_value": "10"}
    )
    assert response.status_code == 422 and "either a role or a person" in response.content.decode()
    response = cx.post(url, {"role": "agent", "currency": "TWD", "max_value": "10"})
    assert response.status_code == 422 and "already a limit" in response.content.decode()
    response = cx.post(url, {"staff": staff.pk, "currency": "twd", "max_value": "5000"})
    assert response.status_code == 302
    assert AuthorityLimit.objects.get(staff=staff).currency == "TWD"


def test_message_templates_are_checked(cx):
    template = MessageTemplate.objects.get(kind="acknowledgement", language="en")
    url = reverse("cases:config_edit", args=["templates", template.pk])
    data = {
        "kind": "acknowledgement",
        "language": "en",
        "subject": "Got it {{ case_ref }}",
        "body": "{% if %}",
    }
    response = cx.post(url, data)
    assert response.status_code == 422 and "Template error" in response.content.decode()
    cx.post(url, {**data, "body": "Dear {{ customer }}, we have it."})
    assert MessageTemplate.objects.get(pk=template.pk).body == "Dear {{ customer }}, we have it."


def test_case_settings(cx):
    url = reverse("cases:config_settings")
    assert cx.get(url).status_code == 200
    data = {
        "recovery_delay_hours": 2,
        "no_reply_days": 5,
        "owner_load_limit": 0,
        "approval_minutes": 120,
        "warn_percent": 80,
    }
    assert cx.post(url, data).status_code == 422
    cx.post(url, {**data, "owner_load_limit": 20, "send_acknowledgement": "on"})
    config = CaseSettings.current()
    assert config.no_reply_days == 5 and config.owner_load_limit == 20
