"""GET /api/v1/customers: search by name, email, phone or external id; pages; scoping."""

from __future__ import annotations

from django.test import Client

from tests.api import factories
from tests.api.conftest import KeyClient, make_key

URL = "/api/v1/customers"


def names(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return [c["display_name"] for c in response.json()["items"]]


def test_search_by_name_email_phone_and_external_id(org):
    factories.customer("Chen Mei", org["taipei"], "DMS-1", email="mei@example.com")
    factories.customer("Lin Hao", org["kaohsiung"], "DMS-2", phone="+886912345678")
    client = KeyClient(make_key("customers:read"))
    assert names(client.get(URL)) == ["Chen Mei", "Lin Hao"]
    assert names(client.get(URL, {"q": "mei"})) == ["Chen Mei"]
    assert names(client.get(URL, {"q": "MEI@example.com"})) == ["Chen Mei"]
    assert names(client.get(URL, {"q": "0912 345 678"})) == ["Lin Hao"]
    assert names(client.get(URL, {"q": "DMS-2"})) == ["Lin Hao"]
    assert names(client.get(URL, {"q": "nobody"})) == []


def test_pages(org):
    for i in range(5):
        factories.customer(f"C{i}", org["taipei"])
    client = KeyClient(make_key("customers:read"))
    first = client.get(URL, {"page_size": 2}).json()
    assert [c["display_name"] for c in first["items"]] == ["C0", "C1"]
    assert first["has_next"] is True
    last = client.get(URL, {"page_size": 2, "page": 3}).json()
    assert [c["display_name"] for c in last["items"]] == ["C4"]
    assert last["has_next"] is False


def test_merged_customers_are_not_listed(org):
    survivor = factories.customer("Survivor", org["taipei"])
    factories.customer("Gone", org["taipei"], merged_into=survivor)
    assert names(KeyClient(make_key("customers:read")).get(URL)) == ["Survivor"]


def test_an_agent_sees_only_their_subtree_and_a_key_sees_all(users, org):
    factories.customer("North one", org["taipei"])
    factories.customer("South one", org["kaohsiung"])
    agent = Client()
    agent.force_login(users["taipei_agent"])
    assert names(agent.get(URL)) == ["North one"]
    manager = Client()
    manager.force_login(users["north_mgr"])
    assert names(manager.get(URL)) == ["North one"]
    cx = Client()
    cx.force_login(users["cx"])
    assert names(cx.get(URL)) == ["North one", "South one"]
    assert names(KeyClient(make_key("customers:read")).get(URL)) == ["North one", "South one"]


def test_bad_page_size_is_a_validation_error(org):
    from tests.api.conftest import assert_error

    client = KeyClient(make_key("customers:read"))
    error = assert_error(client.get(URL, {"page_size": 0}), 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "page_size"]
