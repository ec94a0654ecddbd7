"""One error shape everywhere: unknown paths, wrong methods, validation, malformed JSON, bugs."""

from __future__ import annotations

from django.test import Client

from tests.api.conftest import KeyClient, assert_error, make_key


def test_unknown_path_under_the_api_is_a_json_404(db):
    assert_error(Client().get("/api/v1/nothing/here"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(db):
    response = KeyClient(make_key()).put("/api/v1/customers", "[]", content_type="application/json")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]


def test_malformed_json_for_a_schema_body_is_400(db):
    client = KeyClient(make_key())
    error = assert_error(
        client.post("/api/v1/webhooks", "{nope", content_type="application/json"),
        400,
        "bad_request",
    )
    assert error["details"][0]["loc"] == ["body"]


def test_unexpected_exception_is_a_json_500(db, monkeypatch):
    from rapport.integrations import api as integrations_api

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(integrations_api, "subscription_out", broken)
    client = KeyClient(make_key())
    client.post_json("/api/v1/webhooks", {"url": "https://x.org/", "event_types": ["*"]})
    error = assert_error(client.get("/api/v1/webhooks"), 500, "internal_error")
    assert "boom" not in error["message"]


def test_api_root_points_at_the_docs(db):
    response = Client().get("/api/v1/")
    assert response.status_code == 200
    assert response.json()["openapi"] == "/api/v1/openapi.json"
