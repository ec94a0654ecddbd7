"""Two submits racing for the same last page store one completed response, once."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from rapport.core import events
from rapport.surveys import actions
from rapport.surveys.models import Answer, Response


@pytest.mark.django_db(transaction=True)
def test_racing_final_submits_store_once(org):
    survey = actions.create_survey_from_template("csat", "race", publish=True)
    invitation, token = actions.create_invitation(
        actions.live_version(survey), channel="link", language="en"
    )
    url = reverse("surveys_public:answer", args=[token])
    Client().post(url, {"page": "1", "q_satisfaction": "2"})
    seen: list = []

    def handler(_type, payloads):
        seen.extend(payloads)

    events.subscribe("response.completed")(handler)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def submit(n: int) -> None:
        try:
            barrier.wait()
            page = Client().post(url, {"page": "2", "q_went_wrong": f"thread {n}"})
            results.append(page.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        events._handlers["response.completed"].remove(handler)
    # One submit completes (and is sent on to the thanks page); the others find the link used,
    # whether before the write lock or under it, and get the "already answered" page at once.
    assert sorted(results) == [200, 200, 200, 302]
    response = Response.objects.get()
    assert response.state == "completed"
    assert Answer.objects.filter(response=response, question__key="went_wrong").count() == 1
    assert len(seen) == 1 and seen[0]["response_id"] == response.pk
    invitation.refresh_from_db()
    assert invitation.status == "completed"


@pytest.mark.django_db(transaction=True)
def test_racing_first_pages_create_one_response(org):
    survey = actions.create_survey_from_template("nps", "race", publish=True)
    _invitation, token = actions.create_invitation(
        actions.live_version(survey), channel="link", language="en"
    )
    url = reverse("surveys_public:answer", args=[token])
    barrier = threading.Barrier(4)

    def submit(n: int) -> None:
        try:
            barrier.wait()
            Client().post(url, {"page": "1", "q_recommend": str(n)})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    response = Response.objects.get()
    assert Answer.objects.filter(response=response).count() == 1
    assert response.current_page == 2
