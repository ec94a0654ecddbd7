"""API fixtures: keys with chosen scopes, and clients that send them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from django.test import Client

from rapport.integrations import actions
from rapport.integrations.models import SCOPES

_names = itertools.count(1)


def make_key(*scopes: str) -> str:
    _key, raw = actions.create_api_key(f"key-{next(_names)}", list(scopes or SCOPES))
    return raw


class KeyClient(Client):
    """A test client that sends an API key and speaks JSON."""

    def __init__(self, raw_key: str | None = None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
        super().__init__(headers=headers, **kwargs)

    def post_json(self, path: str, data: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.post(path, json.dumps(data), content_type="application/json", **kwargs)

    def post_ndjson(self, path: str, lines: list[str], **kwargs: Any):  # type: ignore[no-untyped-def]
        body = "\n".join(lines) + "\n"
        return self.post(path, body, content_type="application/x-ndjson", **kwargs)


@pytest.fixture
def key_client(db):
    """A client with a key holding every scope."""
    return KeyClient(make_key())


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    """The response has the one error shape with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    for detail in body["error"]["details"]:
        assert set(detail) == {"loc", "msg"}
    return body["error"]
