"""/api/v1/feedback: batch intake, list, get, corrections; keys and scoping."""

from __future__ import annotations

import pytest
from django.test import Client

from rapport.feedback.actions import record_feedback
from rapport.feedback.models import Correction, FeedbackItem
from tests.api.conftest import KeyClient, assert_error, make_key
from tests.feedback.conftest import NEGATIVE_EN, POSITIVE_EN, item

pytestmark = pytest.mark.django_db
URL = "/api/v1/feedback"


def test_batch_post_with_per_record_answers_and_duplicates(lin):
    client = KeyClient(make_key("feedback:write"))
    batch = [
        {
            "external_id": "c-1",
            "text": NEGATIVE_EN,
            "channel": "call",
            "customer_email": "lin@example.com",
        },
        {"external_id": "c-2", "text": "聊天記錄:客戶詢問保養時間", "channel": "chat"},
        {"external_id": "c-3", "text": "x", "channel": "pigeon", "rating": "many"},
    ]
    body = client.post_json(URL + "?source=callcentre", batch).json()
    assert (body["created"], body["rejected"]) == (2, 1)
    bad = body["results"][2]
    assert bad["status"] == "rejected"
    assert {e["field"] for e in bad["errors"]} == {"channel", "rating"}
    again = client.post_json(URL + "?source=callcentre", batch[:2]).json()
    assert again["duplicates"] == 2 and again["created"] == 0
    row = FeedbackItem.objects.get(external_id="c-1")
    assert row.customer_id == lin.pk and row.channel == "call" and row.source == "callcentre"


def test_a_key_without_a_write_scope_is_refused(org):
    client = KeyClient(make_key("surveys:read"))
    assert_error(client.post_json(URL, [{"text": "hi"}]), 403, "forbidden")
    assert_error(Client().get(URL), 401, "not_authenticated")


def test_list_filters_and_pages(lin, bob):
    record_feedback(
        [
            item(NEGATIVE_EN, customer_id=lin.pk, external_id="1"),
            item(POSITIVE_EN, customer_id=bob.pk, external_id="2"),
            item(POSITIVE_EN, customer_id=lin.pk, external_id="3"),
        ]
    )
    client = KeyClient(make_key("feedback:read"))
    body = client.get(URL, {"customer": lin.pk, "limit": 1}).json()
    assert len(body["items"]) == 1 and body["next_cursor"]
    rest = client.get(URL, {"customer": lin.pk, "cursor": body["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    positive = client.get(URL, {"sentiment": "positive"}).json()["items"]
    assert {i["external_id"] for i in positive} == {"2", "3"}
    south = client.get(URL, {"unit": "south"}).json()["items"]
    assert [i["external_id"] for i in south] == ["2"]
    assert_error(client.get(URL, {"unit": "nowhere"}), 422, "validation_error")
    assert_error(client.get(URL, {"cursor": "garbage"}), 422, "validation_error")


def test_a_session_user_sees_only_their_units_items(lin, bob, users):
    done = record_feedback([item(customer_id=lin.pk), item(customer_id=bob.pk)])
    client = Client()
    client.force_login(users["taipei_agent"])
    ids = [i["id"] for i in client.get(URL).json()["items"]]
    assert ids == [done[0].id]
    assert client.get(f"{URL}/{done[0].id}").status_code == 200
    assert_error(client.get(f"{URL}/{done[1].id}"), 404, "not_found")


def test_corrections_by_api(lin, users):
    (done,) = record_feedback([item(NEGATIVE_EN, customer_id=lin.pk)])
    client = Client()
    client.force_login(users["cx"])
    response = client.post(
        f"{URL}/{done.id}/corrections",
        {"sentiment": "neutral", "causes": ["price", "ethics"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sentiment"] == "neutral" and body["corrected_at"]
    assert [c[0] for c in body["causes"]] == ["price", "ethics"]
    got = set(Correction.objects.values_list("field", "value", "by"))
    assert got == {
        ("sentiment", "neutral", users["cx"].pk),
        ("cause", "price", users["cx"].pk),
        ("cause", "ethics", users["cx"].pk),
    }
    bad = client.post(
        f"{URL}/{done.id}/corrections", {"causes": ["weather"]}, content_type="application/json"
    )
    assert_error(bad, 422, "validation_error")
    analyst = Client()
    analyst.force_login(users["analyst"])
    refused = analyst.post(
        f"{URL}/{done.id}/corrections", {"sentiment": "positive"}, content_type="application/json"
    )
    assert_error(refused, 403, "forbidden")


def test_the_router_is_in_the_openapi_document(db):
    paths = Client().get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/feedback" in paths and "/api/v1/feedback/{item_id}/corrections" in paths
