"""GET /api/v1/customers/{id}/timeline: newest first, filters, keyset pages."""

from __future__ import annotations

from tests.api import factories
from tests.api.conftest import KeyClient, assert_error, make_key


def test_newest_first_in_pages_that_cover_everything_once(org):
    c = factories.customer("Chen Mei", org["taipei"])
    created = factories.touchpoints(c, 7, unit=org["taipei"])
    client = KeyClient(make_key("customers:read"))
    url = f"/api/v1/customers/{c.pk}/timeline"
    seen, cursor = [], ""
    while True:
        body = client.get(url, {"limit": 3, "cursor": cursor}).json()
        seen.extend(body["items"])
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert [e["id"] for e in seen] == [tp.pk for tp in reversed(created)]
    assert seen[0]["type"] == "touchpoint"
    assert seen[0]["amount"] == "100.50"
    assert seen[0]["unit"] == "taipei"


def test_filters(org):
    c = factories.customer("Chen Mei", org["taipei"])
    factories.touchpoints(c, 3, unit=org["taipei"], kind="service_visit")
    factories.touchpoints(c, 2, unit=org["kaohsiung"], kind="complaint")
    client = KeyClient(make_key("customers:read"))
    url = f"/api/v1/customers/{c.pk}/timeline"

    def kinds(**params):  # type: ignore[no-untyped-def]
        return [e["kind"] for e in client.get(url, params).json()["items"]]

    assert kinds(kind="complaint") == ["complaint", "complaint"]
    assert kinds(unit="south") == ["complaint", "complaint"]
    assert kinds(unit="north") == ["service_visit"] * 3
    assert len(kinds(**{"from": "2024-01-02", "to": "2024-01-02"})) == 2
    assert kinds(channel="phone") == []
    assert_error(client.get(url, {"unit": "atlantis"}), 422, "validation_error")
    assert_error(client.get(url, {"from": "soon"}), 422, "validation_error")
    assert_error(client.get(url, {"cursor": "garbage"}), 422, "validation_error")
