"""Authentication and authorisation shared by every endpoint: API keys (two headers), scopes,
revocation, last use, and the UI's session with CSRF."""

from __future__ import annotations

import datetime as dt
import json

from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from django.test import Client
from django.utils import timezone

from rapport.integrations.models import ApiKey, hash_key
from tests.api.conftest import KeyClient, assert_error, make_key

URL = "/api/v1/customers"


def test_bearer_and_x_api_key_headers_both_work(org):
    raw = make_key("customers:read")
    assert KeyClient(raw).get(URL).status_code == 200
    assert Client(headers={"X-API-Key": raw}).get(URL).status_code == 200


def test_missing_wrong_and_revoked_keys_are_401_with_the_error_shape(org):
    assert_error(Client().get(URL), 401, "not_authenticated")
    assert_error(
        Client(headers={"Authorization": "Bearer rk_wrong"}).get(URL), 401, "not_authenticated"
    )
    assert_error(Client(headers={"X-API-Key": "rk_wrong"}).get(URL), 401, "not_authenticated")
    raw = make_key("customers:read")
    ApiKey.objects.get(key_hash=hash_key(raw)).revoke()
    response = KeyClient(raw).get(URL)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_is_403(org):
    error = assert_error(KeyClient(make_key("touchpoints:read")).get(URL), 403, "forbidden")
    assert "customers:read" in error["message"]


def test_last_used_is_written_at_most_once_a_minute(org):
    raw = make_key("customers:read")
    client = KeyClient(raw)
    client.get(URL)
    first = ApiKey.objects.get(key_hash=hash_key(raw)).last_used_at
    assert first is not None
    client.get(URL)
    assert ApiKey.objects.get(key_hash=hash_key(raw)).last_used_at == first
    ApiKey.objects.filter(key_hash=hash_key(raw)).update(
        last_used_at=timezone.now() - dt.timedelta(minutes=2)
    )
    client.get(URL)
    assert ApiKey.objects.get(key_hash=hash_key(raw)).last_used_at > first


def test_session_user_reads_with_their_role_permission(users):
    client = Client()
    client.force_login(users["taipei_agent"])
    assert client.get(URL).status_code == 200


def test_session_user_without_the_permission_is_403(users):
    client = Client()
    client.force_login(users["analyst"])
    assert_error(client.get("/api/v1/webhooks"), 403, "forbidden")


def test_session_writes_need_the_csrf_token(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["cx"])
    url = "/api/v1/touchpoints"
    body = json.dumps(
        [
            {
                "external_id": "t1",
                "customer_external_id": "c1",
                "kind": "inquiry",
                "occurred_at": "2024-05-01T10:00:00+08:00",
            }
        ]
    )
    assert_error(client.post(url, body, content_type="application/json"), 403, "csrf_failed")
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    response = client.post(
        url,
        body,
        content_type="application/json",
        headers={"X-CSRFToken": _mask_cipher_secret(secret)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1


def test_no_key_and_no_session_on_a_write_is_401_not_a_csrf_error(org):
    response = Client(enforce_csrf_checks=True).post(URL, "[]", content_type="application/json")
    assert_error(response, 401, "not_authenticated")
