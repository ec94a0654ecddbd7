"""The API keys page: the raw key is shown once, only hashes are kept, keys can be revoked."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from rapport.integrations.models import ApiKey, hash_key

URL = reverse("integrations:keys")


def test_new_key_is_shown_once(users, as_user):
    client = as_user("cx")
    response = client.post(URL, {"name": "dms-bridge", "scopes": ["touchpoints:write"]})
    assert response.status_code == 201
    raw = response.context["issued"]["raw"]
    assert raw.startswith("rk_") and raw in response.content.decode()
    key = ApiKey.objects.get(name="dms-bridge")
    assert key.key_hash == hash_key(raw) and key.scopes == ["touchpoints:write"]
    assert key.created_by == users["cx"]
    again = client.get(URL).content.decode()
    assert raw not in again and key.prefix in again


def test_duplicate_name_is_refused_on_the_field(users, as_user):
    client = as_user("admin")
    client.post(URL, {"name": "crm", "scopes": ["customers:read"]})
    response = client.post(URL, {"name": "crm", "scopes": ["customers:read"]})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert ApiKey.objects.count() == 1


def test_revoke(users, as_user):
    key, _raw = ApiKey.issue("old", ["customers:read"])
    response = as_user("cx").post(reverse("integrations:key_revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert not key.active


def test_only_admins_and_cx_managers(users, as_user):
    key, _raw = ApiKey.issue("k", ["customers:read"])
    for name in ["analyst", "taipei_agent", "north_mgr"]:
        client = as_user(name)
        assert client.get(URL).status_code == 403, name
        assert client.post(URL, {"name": "x", "scopes": ["customers:read"]}).status_code == 403
        assert client.post(reverse("integrations:key_revoke", args=[key.pk])).status_code == 403
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1
    assert as_user("admin").get(URL).status_code == 200


def test_creating_a_key_needs_csrf(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    assert client.post(URL, {"name": "x", "scopes": ["customers:read"]}).status_code == 403
    assert not ApiKey.objects.exists()
