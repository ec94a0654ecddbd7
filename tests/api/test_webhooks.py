"""/api/v1/webhooks: create (secret shown once), list, read, change, delete; validation; scope."""

from __future__ import annotations

from tests.api.conftest import KeyClient, assert_error, make_key

URL = "/api/v1/webhooks"


def test_crud_and_the_secret_is_shown_only_at_creation(db):
    client = KeyClient(make_key("webhooks:manage"))
    created = client.post_json(URL, {"url": "https://example.com/hook", "event_types": ["*"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["secret"]) == 64
    wid = body["id"]

    listed = client.get(URL).json()
    assert [w["id"] for w in listed] == [wid]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"{URL}/{wid}").json()

    patched = client.patch(
        f"{URL}/{wid}",
        '{"active": false, "event_types": ["touchpoint.created"]}',
        content_type="application/json",
    ).json()
    assert patched["active"] is False
    assert patched["event_types"] == ["touchpoint.created"]
    assert patched["url"] == "https://example.com/hook"

    assert client.delete(f"{URL}/{wid}").status_code == 204
    assert_error(client.get(f"{URL}/{wid}"), 404, "not_found")


def test_invalid_subscriptions_are_refused_with_the_field(db):
    client = KeyClient(make_key("webhooks:manage"))
    error = assert_error(
        client.post_json(URL, {"url": "ftp://example.com/", "event_types": ["*"]}),
        422,
        "validation_error",
    )
    assert error["details"][0]["loc"] == ["body", "url"]
    error = assert_error(
        client.post_json(URL, {"url": "https://example.com/", "event_types": ["nope"]}),
        422,
        "validation_error",
    )
    assert error["details"][0]["loc"] == ["body", "event_types"]
    error = assert_error(client.post_json(URL, {"url": "https://x.org/"}), 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "payload", "event_types"]


def test_deliveries_are_listed_newest_first(db):
    from rapport.core import events

    client = KeyClient(make_key("webhooks:manage"))
    wid = client.post_json(URL, {"url": "http://127.0.0.1:9/", "event_types": ["*"]}).json()["id"]
    events.emit("touchpoint.created", [{"id": 1}, {"id": 2}])
    page = client.get(f"{URL}/{wid}/deliveries").json()
    assert [d["status"] for d in page["items"]] == ["pending", "pending"]
    assert page["items"][0]["event_type"] == "touchpoint.created"
    assert client.get(f"{URL}/{wid}/deliveries", {"status": "failed"}).json()["items"] == []
    assert_error(client.get(f"{URL}/{wid}/deliveries", {"status": "x"}), 422, "validation_error")


def test_webhooks_need_their_own_scope(db):
    client = KeyClient(make_key("customers:read", "touchpoints:write"))
    assert_error(client.get(URL), 403, "forbidden")
