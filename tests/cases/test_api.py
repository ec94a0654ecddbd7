"""The cases API: scoping (another unit's case is a 404 for reading and acting), optimistic
concurrency over HTTP (the second save gets 409 in the error shape, nothing overwritten),
opening, the inbox filters, actions and the approval queue."""

from __future__ import annotations

import pytest
from django.test import Client

from rapport.cases.models import Case, CaseEvent
from rapport.integrations.models import ApiKey
from tests.conftest import make_user

URL = "/api/v1/cases"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, path, data):
    return client.post(f"{URL}{path}", data, content_type="application/json")


def test_another_units_case_is_not_there(customer, khh_customer, open_case, users):
    mine, theirs = open_case(customer), open_case(khh_customer)
    client = login(users["taipei_agent"])
    listed = client.get(URL).json()
    assert [c["id"] for c in listed["items"]] == [mine.pk]
    assert client.get(f"{URL}/{mine.pk}").status_code == 200
    for response in (
        client.get(f"{URL}/{theirs.pk}"),
        post(client, f"/{theirs.pk}/acknowledge", {"version": theirs.version}),
        post(client, f"/{theirs.pk}/notes", {"version": theirs.version, "text": "peek"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Case.objects.get(pk=theirs.pk).version == theirs.version
    assert {c["id"] for c in login(users["cx"]).get(URL).json()["items"]} == {mine.pk, theirs.pk}


def test_second_save_with_the_same_version_gets_409(customer, open_case, users):
    case = open_case(customer)
    first, second = login(users["taipei_agent"]), login(users["admin"])
    ok = post(first, f"/{case.pk}/acknowledge", {"version": case.version})
    assert (
        ok.status_code == 200 and ok.json()["version"] == 2 and ok.json()["state"] == "acknowledged"
    )
    clash = post(second, f"/{case.pk}/notes", {"version": case.version, "text": "I was here first"})
    assert clash.status_code == 409
    error = clash.json()["error"]
    assert error["code"] == "conflict" and "Reload" in error["message"]
    assert error["details"] == [{"loc": ["body", "version"], "msg": "current version is 2"}]
    assert not CaseEvent.objects.filter(case=case, kind="note").exists()
    assert Case.objects.get(pk=case.pk).version == 2


def test_illegal_transition_is_409_with_the_reason(customer, open_case, users):
    case = open_case(customer)
    response = post(
        login(users["taipei_agent"]),
        f"/{case.pk}/resolve",
        {"version": case.version, "cause": "price", "fix": "x"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert "from New to Resolved" in response.json()["error"]["message"]


def test_open_by_hand_then_attach(customer, users):
    client = login(users["taipei_agent"])
    body = {
        "customer_id": customer.pk,
        "subject": "Walk-in: scratched door",
        "remedy_wanted": "Repaint",
    }
    created = post(client, "", body)
    assert created.status_code == 201
    data = created.json()
    assert (
        data["owner"] == "tpagent"
        and data["source"] == "manual"
        and data["remedy_wanted"] == "Repaint"
    )
    assert [c["target"] for c in data["clocks"]] == ["ack", "response", "resolve"]
    assert data["events"][0]["kind"] == "opened" and data["events"][0]["actor"] == "tpagent"
    again = post(client, "", {**body, "subject": "Called again"})
    assert (
        again.status_code == 200
        and again.json()["id"] == data["id"]
        and again.json()["signal_count"] == 2
    )


def test_create_for_another_units_customer_is_404_and_bad_input_422(khh_customer, customer, users):
    client = login(users["taipei_agent"])
    assert post(client, "", {"customer_id": khh_customer.pk, "subject": "x"}).status_code == 404
    bad = post(client, "", {"customer_id": customer.pk, "subject": "x", "severity": "apocalyptic"})
    assert bad.status_code == 422 and "severity" in bad.json()["error"]["message"]
    assert post(client, "", {"customer_id": customer.pk}).status_code == 422
    assert not Case.objects.exists()


def test_api_key_and_analyst(customer, open_case, users):
    case = open_case(customer)
    _key, raw = ApiKey.issue("erp", ["cases:read", "cases:write"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    client = Client()
    assert client.get(f"{URL}/{case.pk}", **headers).status_code == 200
    acked = client.post(
        f"{URL}/{case.pk}/acknowledge", {"version": 1}, content_type="application/json", **headers
    )
    assert acked.status_code == 200 and acked.json()["events"][-1]["actor"] == "api:erp"
    analyst = login(users["analyst"])
    assert analyst.get(f"{URL}/{case.pk}").status_code == 200
    assert post(analyst, f"/{case.pk}/notes", {"version": 2, "text": "x"}).status_code == 403
    assert Client().get(URL).status_code == 401


def test_inbox_filters(customer, open_case, users):
    from rapport.cases.actions import sla

    case = open_case(customer)
    sla.sweep_sla(now=case.ack_due_at)
    client = login(users["taipei_agent"])
    assert [c["id"] for c in client.get(f"{URL}?breached=true").json()["items"]] == [case.pk]
    assert [c["owner"] for c in client.get(f"{URL}?mine=true").json()["items"]] == ["tpagent"]
    assert login(users["north_mgr"]).get(f"{URL}?mine=true").json()["items"] == []
    assert client.get(f"{URL}?state=closed").json()["items"] == []
    assert client.get(f"{URL}?state=bogus").status_code == 422
    assert client.get(f"{URL}?unit=kaohsiung").json()["items"] == []


@pytest.fixture
def taipei_mgr(org):
    return make_user("tpmgr", org["taipei"], "unit_manager")


def test_remedy_approval_queue_and_consent_over_http(customer, open_case, users, taipei_mgr):
    case = open_case(customer)
    agent = login(users["taipei_agent"])
    v = post(agent, f"/{case.pk}/acknowledge", {"version": 1}).json()["version"]
    proposed = post(
        agent,
        f"/{case.pk}/remedies",
        {"version": v, "kind": "refund", "value": "9000", "currency": "TWD"},
    )
    assert proposed.status_code == 200 and proposed.json()["state"] == "awaiting_approval"
    remedy = proposed.json()["remedies"][0]
    manager = login(taipei_mgr)
    queue = manager.get(f"{URL}/approvals").json()
    assert [(a["case_id"], a["level"]) for a in queue] == [(case.pk, 1)]
    assert agent.get(f"{URL}/approvals").json() == []
    refused = post(manager, f"/approvals/{queue[0]['id']}/decide", {"approve": False})
    assert refused.status_code == 422
    decided = post(
        manager, f"/approvals/{queue[0]['id']}/decide", {"approve": True, "reason": "Fair"}
    )
    assert decided.status_code == 200 and decided.json()["decision"] == "approved"
    detail = agent.get(f"{URL}/{case.pk}").json()
    assert detail["state"] == "in_progress"
    v = detail["version"]
    early = post(agent, f"/{case.pk}/remedies/{remedy['id']}/grant", {"version": v})
    assert early.status_code == 409 and "accepted" in early.json()["error"]["message"]
    v = post(agent, f"/{case.pk}/remedies/{remedy['id']}/offer", {"version": v}).json()["version"]
    v = post(
        agent,
        f"/{case.pk}/remedies/{remedy['id']}/consent",
        {"version": v, "accepted": True, "channel": "phone"},
    ).json()["version"]
    granted = post(agent, f"/{case.pk}/remedies/{remedy['id']}/grant", {"version": v}).json()
    assert granted["remedies"][0]["status"] == "granted"
    assert granted["remedies"][0]["approvals"][0]["reason"] == "Fair"
