"""Staff pages for rules, waves and the contact policy: permissions, saving, dry runs."""

from __future__ import annotations

from rapport.surveys.models import ContactPolicy, EventRule, SmsProviderConfig, Wave


def test_reading_and_changing_need_their_permissions(client, users):
    assert client.get("/surveys/distribution/").status_code == 302  # to the login page
    client.force_login(users["analyst"])
    assert client.get("/surveys/distribution/").status_code == 200
    assert client.get("/surveys/distribution/rules/new/").status_code == 403
    assert client.get("/surveys/distribution/policy/").status_code == 403


def test_cx_manager_creates_a_rule_and_dry_runs_it(client, users, nps, policy):
    client.force_login(users["cx"])
    assert client.get("/surveys/distribution/rules/new/").status_code == 200
    response = client.post(
        "/surveys/distribution/rules/new/",
        {
            "name": "CSI after service", "survey": nps.pk, "active": "on",
            "touchpoint_kind": "service_visit", "touchpoint_channels": ["branch"],
            "context_filter": '{"visit_type": "warranty"}', "delay_hours": 48, "priority": 100,
            "channel": "email", "reminder_days": 3, "validity_days": 30,
        },
    )  # fmt: skip
    rule = EventRule.objects.get()
    assert response.status_code == 302
    assert rule.context_filter == {"visit_type": "warranty"}
    assert rule.touchpoint_channels == ["branch"]
    page = client.post(f"/surveys/distribution/rules/{rule.pk}/dry-run/", {"days": "7"})
    assert page.status_code == 200 and "Nothing was written" in page.content.decode()


def test_bad_json_filter_is_a_form_error_not_a_crash(client, users, nps):
    client.force_login(users["cx"])
    response = client.post(
        "/surveys/distribution/rules/new/",
        {"name": "x", "survey": nps.pk, "touchpoint_kind": "purchase", "context_filter": "{oops",
         "delay_hours": 1, "priority": 1, "channel": "email", "validity_days": 30},
    )  # fmt: skip
    assert response.status_code == 200 and "Not valid JSON" in response.content.decode()
    assert not EventRule.objects.exists()


def test_wave_form_rejects_rate_and_count_together(client, users, nps, policy):
    client.force_login(users["cx"])
    data = {"name": "W", "survey": nps.pk, "active": "on", "sample_rate": "0.5",
            "sample_count": "10", "stratify_by_unit": "on", "channel": "email",
            "validity_days": 30}  # fmt: skip
    assert "not both" in client.post("/surveys/distribution/waves/new/", data).content.decode()
    del data["sample_count"]
    assert client.post("/surveys/distribution/waves/new/", data).status_code == 302
    wave = Wave.objects.get()
    page = client.post(f"/surveys/distribution/waves/{wave.pk}/dry-run/")
    assert page.status_code == 200


def test_policy_and_sms_provider(client, users):
    client.force_login(users["cx"])
    assert client.get("/surveys/distribution/policy/").status_code == 200
    client.post(
        "/surveys/distribution/policy/",
        {"form": "policy", "quarantine_days": 45, "quiet_start": "22:00", "quiet_end": "08:00",
         "max_attempts": 5},
    )  # fmt: skip
    assert ContactPolicy.current().quarantine_days == 45
    bad = client.post(
        "/surveys/distribution/policy/",
        {
            "form": "sms",
            "sms-name": "gw",
            "sms-url": "ftp://x",
            "sms-secret": "k",
            "sms-active": "on",
        },
    )
    assert bad.status_code == 200 and not SmsProviderConfig.objects.exists()
    client.post(
        "/surveys/distribution/policy/",
        {"form": "sms", "sms-name": "gw", "sms-url": "https://sms.example.com/hook",
         "sms-secret": "k", "sms-active": "on"},
    )  # fmt: skip
    assert SmsProviderConfig.objects.get().url == "https://sms.example.com/hook"
