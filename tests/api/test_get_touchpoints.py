"""GET /api/v1/touchpoints: filters, keyset pages, scoping."""

from __future__ import annotations

from django.test import Client

from tests.api import factories
from tests.api.conftest import KeyClient, assert_error, make_key

URL = "/api/v1/touchpoints"


def test_filters_and_keyset_pages(org):
    a = factories.customer("A", org["taipei"])
    b = factories.customer("B", org["kaohsiung"])
    tps_a = factories.touchpoints(a, 5, unit=org["taipei"])
    factories.touchpoints(b, 3, unit=org["kaohsiung"], kind="claim")
    client = KeyClient(make_key("touchpoints:read"))
    assert len(client.get(URL).json()["items"]) == 8
    only_a = client.get(URL, {"customer": a.pk}).json()["items"]
    assert [t["id"] for t in only_a] == [t.pk for t in reversed(tps_a)]
    assert {t["kind"] for t in client.get(URL, {"kind": "claim"}).json()["items"]} == {"claim"}
    assert len(client.get(URL, {"unit": "north"}).json()["items"]) == 5
    assert len(client.get(URL, {"source": "dms", "to": "2024-01-01"}).json()["items"]) == 2

    seen, cursor = [], ""
    while True:
        body = client.get(URL, {"limit": 3, "cursor": cursor}).json()
        seen += [t["id"] for t in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) == 8
    assert_error(client.get(URL, {"cursor": "x~y"}), 422, "validation_error")


def test_agent_sees_touchpoints_of_their_customers_only(users, org):
    factories.touchpoints(factories.customer("A", org["taipei"]), 2)
    factories.touchpoints(factories.customer("B", org["kaohsiung"]), 3)
    agent = Client()
    agent.force_login(users["khh_agent"])
    assert len(agent.get(URL).json()["items"]) == 3
