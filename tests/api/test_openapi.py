"""The OpenAPI document is served and valid; the docs page loads only our own static files."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client, override_settings

PLAIN_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def test_openapi_json_is_served_and_describes_the_api(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in [
        "/api/v1/touchpoints",
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/timeline",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhook_id}",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/events",
    ]:
        assert path in paths, path
    assert "application/x-ndjson" in paths["/api/v1/touchpoints"]["post"]["requestBody"]["content"]
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}


def test_openapi_document_validates(db):
    from openapi_spec_validator import validate

    validate(Client().get("/api/v1/openapi.json").json())


@override_settings(STORAGES=PLAIN_STATIC)
def test_docs_page_uses_only_local_static_assets(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for url in assets:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file"
