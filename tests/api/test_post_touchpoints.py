"""POST /api/v1/touchpoints: bulk JSON or NDJSON, per-record answers, limits, auth."""

from __future__ import annotations

import gzip
import json

import pytest
from django.test import override_settings

from rapport.touchpoints.models import Touchpoint
from tests.api.conftest import KeyClient, assert_error, make_key

URL = "/api/v1/touchpoints"


def record(n: int, **extra):  # type: ignore[no-untyped-def]
    return {
        "external_id": f"tp-{n}",
        "customer_external_id": f"c-{n % 7}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "kind": "service_visit",
        "channel": "branch",
        **extra,
    }


def test_good_records_are_created_and_resending_is_a_duplicate(org, key_client):
    response = key_client.post_json(URL, [record(1), record(2)])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["created"], body["rejected"]) == (2, 2, 0)
    assert [r["status"] for r in body["results"]] == ["created", "created"]
    ids = {r["id"] for r in body["results"]}
    assert ids == set(Touchpoint.objects.values_list("pk", flat=True))

    again = key_client.post_json(URL, [record(1), record(2)]).json()
    assert (again["created"], again["duplicates"]) == (0, 2)
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert Touchpoint.objects.count() == 2


def test_mixed_batch_writes_the_good_and_names_the_bad_field(org, key_client):
    batch = [record(1), record(2, kind="teleportation"), record(3, occurred_at="yesterday")]
    body = key_client.post_json(URL, batch).json()
    assert (body["created"], body["rejected"]) == (1, 2)
    by_index = {r["index"]: r for r in body["results"]}
    assert by_index[0]["status"] == "created"
    assert by_index[1]["status"] == "rejected"
    assert by_index[1]["id"] is None
    assert [e["field"] for e in by_index[1]["errors"]] == ["kind"]
    assert "teleportation" in by_index[1]["errors"][0]["msg"]
    assert [e["field"] for e in by_index[2]["errors"]] == ["occurred_at"]
    assert list(Touchpoint.objects.values_list("external_id", flat=True)) == ["tp-1"]


def test_ndjson_with_a_broken_line_rejects_that_line_only(org, key_client):
    lines = [json.dumps(record(1)), "", '{"external_id": "tp-2", "kind": ', json.dumps(record(3))]
    response = key_client.post_ndjson(URL, lines)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["created"], body["rejected"]) == (3, 2, 1)
    broken = [r for r in body["results"] if r["status"] == "rejected"]
    assert len(broken) == 1
    assert broken[0]["line"] == 3
    assert "line 3" in broken[0]["errors"][0]["msg"]
    assert [r["line"] for r in body["results"]] == [1, 3, 4]
    assert set(Touchpoint.objects.values_list("external_id", flat=True)) == {"tp-1", "tp-3"}


def test_a_record_that_is_not_an_object_is_rejected_in_its_place(org, key_client):
    body = key_client.post_json(URL, [record(1), 42, "text"]).json()
    assert [r["status"] for r in body["results"]] == ["created", "rejected", "rejected"]


def test_more_than_the_limit_is_413_and_writes_nothing(org, key_client, settings):
    settings.RAPPORT_API_MAX_RECORDS = 10_000
    response = key_client.post_json(URL, [record(n) for n in range(10_001)])
    assert_error(response, 413, "payload_too_large")
    assert Touchpoint.objects.count() == 0
    lines = [json.dumps(record(n)) for n in range(10_001)]
    assert_error(key_client.post_ndjson(URL, lines), 413, "payload_too_large")


def test_exactly_the_limit_is_accepted(org, key_client, settings):
    settings.RAPPORT_API_MAX_RECORDS = 10_000
    response = key_client.post_json(URL, [record(n) for n in range(10_000)])
    assert response.status_code == 200
    assert response.json()["created"] == 10_000
    assert Touchpoint.objects.count() == 10_000


@override_settings(RAPPORT_API_MAX_BODY_BYTES=1000)
def test_a_body_over_the_byte_limit_is_413(org, key_client):
    response = key_client.post_json(URL, [record(n) for n in range(50)])
    assert_error(response, 413, "payload_too_large")


def test_gzip_body_is_accepted(org, key_client):
    body = gzip.compress(json.dumps([record(1)]).encode())
    response = key_client.post(
        URL, body, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("[{", "application/json"), ('{"a": 1} x', "application/json"), ("12", "application/json")],
)
def test_malformed_json_body_is_400_with_the_error_shape(org, key_client, body, content_type):
    error = assert_error(key_client.post(URL, body, content_type=content_type), 400, "bad_request")
    if body != "12":
        assert "line 1" in error["details"][0]["msg"]


def test_source_is_taken_from_the_query(org, key_client):
    key_client.post_json(URL + "?source=dms", [record(1)])
    key_client.post_json(URL + "?source=crm", [record(1)])
    assert sorted(Touchpoint.objects.values_list("source__code", flat=True)) == ["crm", "dms"]
    assert_error(key_client.post_json(URL + "?source=bad%20name", [record(1)]), 400, "bad_request")


def test_missing_revoked_and_unscoped_keys(org):
    from rapport.integrations.models import ApiKey, hash_key

    assert_error(KeyClient().post_json(URL, [record(1)]), 401, "not_authenticated")
    assert_error(KeyClient("rk_nonsense").post_json(URL, [record(1)]), 401, "not_authenticated")
    raw = make_key("touchpoints:write")
    assert KeyClient(raw).post_json(URL, [record(1)]).status_code == 200
    ApiKey.objects.get(key_hash=hash_key(raw)).revoke()
    assert_error(KeyClient(raw).post_json(URL, [record(2)]), 401, "not_authenticated")
    unscoped = KeyClient(make_key("touchpoints:read"))
    assert_error(unscoped.post_json(URL, [record(3)]), 403, "forbidden")
    assert Touchpoint.objects.count() == 1
