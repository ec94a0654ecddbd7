"""Concurrent API writers through a real server: overlapping batches from 8 threads lose no
touchpoint and double none (and create each customer once)."""

from __future__ import annotations

import json
import threading
import urllib.request

from rapport.customers.models import CustomerIdentity
from rapport.touchpoints.models import Touchpoint
from tests.api.conftest import make_key

THREADS = 8
BATCH = 400
STEP = 150  # thread i sends records i*STEP ... i*STEP+BATCH-1: neighbours overlap


def record(n: int) -> dict:
    return {
        "external_id": f"tp-{n}",
        "customer_external_id": f"c-{n % 97}",
        "occurred_at": "2024-05-01T10:00:00+08:00",
        "kind": "payment",
        "channel": "web",
        "amount": "10.00",
        "currency": "TWD",
    }


def test_overlapping_batches_from_eight_threads(live_server, org):
    raw = make_key("touchpoints:write")
    url = live_server.url + "/api/v1/touchpoints?source=finance"
    answers: list[dict] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy

    def post(i: int) -> None:
        body = json.dumps([record(n) for n in range(i * STEP, i * STEP + BATCH)]).encode()
        request = urllib.request.Request(
            url,
            data=body,
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
        )
        start.wait()
        try:
            with opener.open(request, timeout=120) as response:
                answers.append(json.load(response))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(answers) == THREADS
    expected = {f"tp-{n}" for n in range((THREADS - 1) * STEP + BATCH)}
    stored = list(Touchpoint.objects.values_list("external_id", flat=True))
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    for answer in answers:
        assert answer["rejected"] == 0
        assert answer["created"] + answer["duplicates"] == BATCH
    assert sum(a["created"] for a in answers) == len(expected)
    assert CustomerIdentity.objects.filter(source__code="finance").count() == 97
