"""POST /api/v1/responses: per-record outcomes, the page's validation, idempotency, events."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from rapport.core import events
from rapport.surveys import actions
from rapport.surveys.models import Answer, Invitation, Response
from tests.api.conftest import KeyClient, assert_error, make_key

URL = "/api/v1/responses?source=crm"


def nps(survey, external_id: str, score, **extra) -> dict:
    return {
        "external_id": external_id,
        "survey": survey.pk,
        "completed_at": "2025-03-03T09:30:00+08:00",
        "customer_external_id": "CRM-1",
        "answers": {"recommend": score, **extra.pop("answers", {})},
        **extra,
    }


@pytest.fixture
def writer(db):
    return KeyClient(make_key("responses:write"))


def test_good_records_are_stored_and_bad_ones_rejected_in_place(writer, make_survey, crm_customer):
    survey = make_survey("nps")
    records = [
        nps(survey, "a", 10, answers={"why": "Great"}),
        nps(survey, "b", 11),  # out of range
        nps(survey, "c", 3, answers={"why": "Slow", "improve": "Call back"}),
        nps(survey, "d", 9, answers={"bogus": "x"}),  # not in the version
        nps(survey, "e", 10, answers={"improve": "hidden for promoters"}),
        nps(survey, "f", None),  # required
        {**nps(survey, "g", 8), "customer_external_id": "CRM-404"},
        {**nps(survey, "h", 8), "completed_at": "2999-01-01T00:00:00Z"},
        {**nps(survey, "i", 8), "survey": 999_999},
        {**nps(survey, "j", 8), "language": "fr", "channel": "pigeon"},
    ]
    body = writer.post_json(URL, records).json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created", "rejected", "created"] + ["rejected"] * 7
    fields = {r["index"]: {e["field"] for e in r["errors"]} for r in body["results"]}
    assert fields[1] == {"recommend"}
    assert fields[3] == {"bogus"}
    assert fields[4] == {"improve"}
    assert fields[5] == {"recommend"}
    assert fields[6] == {"customer_external_id"}
    assert fields[7] == {"completed_at"}
    assert fields[8] == {"survey"}
    assert fields[9] == {"language", "channel"}
    assert (body["created"], body["rejected"]) == (2, 8)
    detractor = Response.objects.get(pk=body["results"][2]["id"])
    assert (detractor.nps_score, detractor.nps_class, detractor.customer_id) == (
        3, "detractor", crm_customer.pk,
    )  # fmt: skip
    assert detractor.state == "completed"
    assert {a.question.key: a.value for a in detractor.answers.select_related("question")} == {
        "recommend": 3, "why": "Slow", "improve": "Call back",
    }  # fmt: skip


def test_sending_again_is_a_duplicate_and_changes_nothing(writer, make_survey, crm_customer):
    survey = make_survey("nps")
    first = writer.post_json(URL, [nps(survey, "x1", 9)]).json()["results"][0]
    lines = [json.dumps(nps(survey, "x1", 2)), "{broken", json.dumps(nps(survey, "x2", 7))]
    again = writer.post_ndjson(URL, lines).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "rejected", "created"]
    assert again["results"][0]["id"] == first["id"]
    assert again["results"][1]["line"] == 2
    assert Response.objects.count() == 2
    assert Response.objects.get(pk=first["id"]).nps_score == 9


def test_touchpoint_gives_staff_and_unit_and_events_are_emitted(
    writer, make_survey, crm_customer, users, org, monkeypatch, django_capture_on_commit_callbacks
):
    survey = make_survey("csat")
    seen: list[dict] = []
    monkeypatch.setitem(events._handlers, "response.completed", [lambda _t, p: seen.extend(p)])
    record = {
        "external_id": "s1",
        "survey": survey.pk,
        "survey_version": 1,
        "touchpoint_external_id": "RO-9",
        "completed_at": "2025-03-03T09:30:00",  # no offset: the enterprise's time zone
        "language": "zh-hant",
        "channel": "sms",
        "answers": {"satisfaction": "2", "went_wrong": "等太久"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        body = writer.post_json(URL, [record]).json()
    response = Response.objects.get(pk=body["results"][0]["id"])
    assert response.staff_id == users["taipei_agent"].staff.pk
    assert response.unit_id == org["taipei"].pk
    assert response.customer_id == crm_customer.pk
    assert (response.csat, response.csat_top2, response.language) == (2, False, "zh-hant")
    assert response.completed_at.isoformat() == "2025-03-03T01:30:00+00:00"
    assert [p["response_id"] for p in seen] == [response.pk]
    assert seen[0]["scores"]["csat"] == 2


def test_version_must_be_published(writer, make_survey, crm_customer):
    survey = make_survey("nps")
    actions.save_version_texts(survey, title={"en": "v2 draft"})  # version 2: a draft
    body = writer.post_json(URL, [{**nps(survey, "v", 9), "survey_version": 2}]).json()
    assert body["results"][0]["errors"][0]["field"] == "survey_version"


def test_anonymous_survey_keeps_no_identity(writer, make_survey, crm_customer):
    survey = make_survey("employee_pulse")
    record = {
        "external_id": "p1",
        "survey": survey.pk,
        "unit": "taipei",
        "customer_external_id": "CRM-1",
        "completed_at": "2025-03-03T09:30:00+08:00",
        "answers": {"enps": 8, "expectations": 4, "resources": 3, "listened": 4, "pride": 5},
    }
    body = writer.post_json(URL, [record]).json()
    assert body["created"] == 1, body
    response = Response.objects.get()
    assert response.customer_id is None and response.staff_id is None
    assert Invitation.objects.get().customer_id is None


def test_auth_and_error_shape(db, make_survey):
    assert_error(KeyClient().post_json(URL, []), 401, "not_authenticated")
    reader = KeyClient(make_key("surveys:read"))
    assert_error(reader.post_json(URL, []), 403, "forbidden")
    writer = KeyClient(make_key("responses:write"))
    assert_error(writer.post(URL, "{nope", content_type="application/json"), 400, "bad_request")


def test_imported_invitation_has_no_working_link(writer, make_survey, crm_customer):
    survey = make_survey("nps")
    writer.post_json(URL, [nps(survey, "z", 9)])
    invitation = Invitation.objects.get()
    assert invitation.status == "completed"
    assert not invitation.token_hash.isalnum()  # not a SHA-256 hex digest: no token matches


@pytest.mark.django_db(transaction=True)
def test_racing_writers_store_each_response_once(live_server, org, make_survey, crm_customer):
    survey = make_survey("nps")
    raw = make_key("responses:write")
    records = [nps(survey, f"race-{n}", n % 11) for n in range(60)]
    start = threading.Barrier(4)
    answers: list[dict] = []
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post() -> None:
        request = urllib.request.Request(
            live_server.url + URL,
            data=json.dumps(records).encode(),
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
        )
        start.wait()
        with opener.open(request, timeout=120) as response:
            answers.append(json.load(response))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4
    assert sum(a["created"] for a in answers) == 60
    assert sum(a["duplicates"] for a in answers) == 180
    assert Response.objects.count() == 60
    assert Answer.objects.count() == sum(1 for _ in records)
