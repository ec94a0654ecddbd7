"""GET /api/v1/events: the event types webhooks can subscribe to."""

from __future__ import annotations

from rapport.core.events import EVENT_TYPES
from tests.api.conftest import KeyClient, assert_error, make_key


def test_lists_every_event_type_for_any_key(db):
    body = KeyClient(make_key("touchpoints:read")).get("/api/v1/events").json()
    assert [e["type"] for e in body] == list(EVENT_TYPES)
    assert "touchpoint.created" in [e["type"] for e in body]


def test_needs_authentication(db):
    assert_error(KeyClient().get("/api/v1/events"), 401, "not_authenticated")
