"""GET /api/v1/customers/{id}: profile, identities and consent; another unit's customer is 404."""

from __future__ import annotations

from django.test import Client

from tests.api import factories
from tests.api.conftest import KeyClient, assert_error, make_key


def test_profile_with_identities_and_consent(org):
    c = factories.customer("Chen Mei", org["taipei"], "DMS-1", email="mei@example.com")
    factories.consent(c, "email", "marketing", False)
    body = KeyClient(make_key("customers:read")).get(f"/api/v1/customers/{c.pk}").json()
    assert body["display_name"] == "Chen Mei"
    assert body["home_unit"] == "taipei"
    assert body["identities"][0]["source"] == "dms"
    assert body["identities"][0]["external_id"] == "DMS-1"
    assert body["consent"] == [
        {
            "channel": "email",
            "purpose": "marketing",
            "granted": False,
            "source": "",
            "recorded_at": body["consent"][0]["recorded_at"],
        }
    ]


def test_agent_reading_another_units_customer_gets_404(users, org):
    south = factories.customer("South one", org["kaohsiung"])
    north = factories.customer("North one", org["taipei"])
    agent = Client()
    agent.force_login(users["taipei_agent"])
    assert agent.get(f"/api/v1/customers/{north.pk}").status_code == 200
    assert_error(agent.get(f"/api/v1/customers/{south.pk}"), 404, "not_found")
    assert_error(agent.get(f"/api/v1/customers/{south.pk}/timeline"), 404, "not_found")


def test_unknown_customer_is_404_and_a_bad_id_422(org):
    client = KeyClient(make_key("customers:read"))
    assert_error(client.get("/api/v1/customers/999999"), 404, "not_found")
    assert_error(client.get("/api/v1/customers/abc"), 422, "validation_error")
