"""The answering path's writers (rapport.surveys.writer): server processes take SQLite's write
lock in turn without its sleeping busy handler, and the submits of one process that arrive
together are committed together, each returned only once stored, each failing alone."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rapport.core import events
from rapport.surveys import actions, writer
from rapport.surveys.library import NPS
from rapport.surveys.models import Response, Survey

sqlite_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="SQLite's single writer; PostgreSQL takes the plain path",
)


def _wait_for(check, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _submit_behind_the_first(submit, tokens, calls, handler) -> None:
    """Submit the first token, and the others once its transaction has begun (its subscriber
    was called), so that they queue behind it and are written together; then unsubscribe."""
    threads = [threading.Thread(target=submit, args=(t,)) for t in tokens]
    try:
        threads[0].start()
        _wait_for(lambda: bool(calls))
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        events._handlers["response.completed"].remove(handler)


def _write_in_child(name: str, writes: int, start_at: float) -> int:
    """Fork a process that writes `writes` surveys, one transaction each, with SQLite's busy
    handler off (busy_timeout 0): any wait for the write lock inside SQLite fails at once."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        connections["default"].connection = None  # the parent's: never used here
        connection.ensure_connection()
        connection.connection.execute("PRAGMA busy_timeout = 0")
        time.sleep(max(0.0, start_at - time.time()))  # both start together
        for i in range(writes):
            with writer.answering_write():
                Survey.objects.create(name=f"{name}-{i}", kind="custom")
                time.sleep(0.002)  # hold the lock a while: the other process must wait
        code = 0
    except BaseException as exc:  # reported through the exit status
        os.write(2, f"{name}: {exc!r}\n".encode())
    finally:
        os._exit(code)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_two_processes_write_in_turn_without_sleeping():
    started = time.monotonic()
    start_at = time.time() + 1.0
    children = [_write_in_child(name, 40, start_at) for name in ("a", "b")]
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert statuses == [0, 0]  # neither met the lock inside SQLite
    assert Survey.objects.filter(name__startswith="a-").count() == 40
    assert Survey.objects.filter(name__startswith="b-").count() == 40
    assert time.monotonic() - started < 20


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_lock_file_is_what_keeps_them_apart(monkeypatch):
    """The control: without the cross-process lock the same two processes do meet in SQLite."""
    monkeypatch.setattr(writer, "_lock_path", lambda: None)
    start_at = time.time() + 1.0
    children = [_write_in_child(name, 40, start_at) for name in ("a", "b")]
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert 1 in statuses


@pytest.mark.django_db(transaction=True)
def test_submits_arriving_together_are_committed_together(org):
    survey = actions.create_survey_from_template("custom", "together")
    for question in NPS["questions"][:2]:
        actions.save_question(survey, None, {**question, "page": 1})
    version = actions.publish_survey(survey)
    tokens = [actions.create_invitation(version, channel="link")[1] for _ in range(6)]
    calls: list[int] = []

    def handler(_type, payloads):
        calls.append(len(payloads))
        if len(calls) == 1 and connection.vendor == "sqlite":  # let the others queue up
            _wait_for(lambda: len(writer._group._waiting) == len(tokens) - 1)

    events.subscribe("response.completed")(handler)
    statuses: list[int] = []
    stored_on_return: list[int] = []
    database = connection.settings_dict["NAME"]

    def submit(token: str) -> None:
        try:
            url = reverse("surveys_public:answer", args=[token])
            page = Client().post(url, {"page": "1", "q_recommend": "9", "q_why": token[:8]})
            statuses.append(page.status_code)
            if connection.vendor == "sqlite":  # committed: another connection sees it
                with sqlite3.connect(database) as other:
                    row = other.execute(
                        "SELECT count(*) FROM surveys_answer WHERE value_text = ?", [token[:8]]
                    ).fetchone()
                stored_on_return.append(row[0])
        finally:
            connections.close_all()

    _submit_behind_the_first(submit, tokens, calls, handler)
    assert statuses == [302] * len(tokens)
    assert Response.objects.filter(survey=survey, state="completed").count() == len(tokens)
    assert sum(calls) == len(tokens)
    if connection.vendor == "sqlite":
        assert calls == [1, len(tokens) - 1]  # one transaction, one round of subscribers
        assert stored_on_return == [1] * len(tokens)


@pytest.mark.django_db(transaction=True)
def test_a_failing_submit_in_a_batch_fails_alone(org):
    outcomes: dict[str, object] = {}
    release = threading.Event()

    def work(name: str, fail: bool = False, hold: bool = False):
        def run() -> str:
            Survey.objects.create(name=name, kind="custom")
            if hold:  # the first writer waits until the others are queued behind it
                release.wait(10)
            if fail:
                raise ValueError(name)
            return name

        return run

    def call(name: str, **kwargs) -> None:
        try:
            outcomes[name] = writer.submit(work(name, **kwargs))
        except ValueError as exc:
            outcomes[name] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=call, args=("first",), kwargs={"hold": True})
    first.start()
    others = [
        threading.Thread(target=call, args=(name,), kwargs={"fail": name == "bad"})
        for name in ("good-1", "bad", "good-2")
    ]
    if connection.vendor == "sqlite":
        _wait_for(lambda: writer._group._writing)
    for t in others:
        t.start()
    if connection.vendor == "sqlite":
        _wait_for(lambda: len(writer._group._waiting) == 3)
    release.set()
    for t in [first, *others]:
        t.join(30)
    assert outcomes["first"] == "first"
    assert outcomes["good-1"] == "good-1" and outcomes["good-2"] == "good-2"
    assert isinstance(outcomes["bad"], ValueError)
    names = set(Survey.objects.values_list("name", flat=True))
    assert names == {"first", "good-1", "good-2"}  # the failed submit's row was rolled back
    assert not writer._group._writing and not writer._group._waiting


def _one_page_survey(name: str, *, anonymous: bool = False) -> Survey:
    survey = actions.create_survey_from_template("custom", name)
    for question in NPS["questions"][:2]:
        actions.save_question(survey, None, {**question, "page": 1})
    if anonymous:
        Survey.objects.filter(pk=survey.pk).update(anonymous=True)
        survey.refresh_from_db()
    actions.publish_survey(survey)
    return survey


@pytest.mark.django_db(transaction=True)
def test_a_double_click_within_one_batch_stores_once(org):
    """Two submits of one link written in the same batch: the bulk writer stores the first and
    leaves the second to the plain path, which finds the link used."""
    survey = _one_page_survey("double")
    version = actions.live_version(survey)
    first = actions.create_invitation(version, channel="link")[1]
    doubled = actions.create_invitation(version, channel="link")[1]
    other = actions.create_invitation(version, channel="link")[1]
    calls: list[list[int]] = []

    def handler(_type, payloads):
        calls.append([p["response_id"] for p in payloads])
        if len(calls) == 1 and connection.vendor == "sqlite":  # let the others queue up
            _wait_for(lambda: len(writer._group._waiting) == 3)

    events.subscribe("response.completed")(handler)
    statuses: dict[str, list[int]] = {first: [], doubled: [], other: []}

    def submit(token: str) -> None:
        try:
            url = reverse("surveys_public:answer", args=[token])
            page = Client().post(url, {"page": "1", "q_recommend": "3", "q_why": "twice"})
            statuses[token].append(page.status_code)
        finally:
            connections.close_all()

    _submit_behind_the_first(submit, (first, doubled, doubled, other), calls, handler)
    assert {token: sorted(codes) for token, codes in statuses.items()} == {
        first: [302],
        doubled: [200, 302],  # stored once; the second click gets "already answered"
        other: [302],
    }
    completed = Response.objects.filter(survey=survey, state="completed")
    assert completed.count() == 3
    assert sorted(sum(calls, [])) == sorted(completed.values_list("pk", flat=True))
    if connection.vendor == "sqlite":
        assert len(calls) == 2 and len(calls[1]) == 2  # one round for the batch of three


def _ready(token: str, score: int = 9) -> tuple[int, actions._AtOnce]:
    invitation = actions.invitation_for_token(token)
    specs = actions.version_specs(invitation.version)
    form = {"page": ["1"], "q_recommend": [str(score)], "q_why": ["fine"]}
    ready = actions._prepare_at_once(actions._Submitted(invitation, specs, 1, form, "en", False))
    assert ready is not None
    return invitation.pk, ready


@pytest.mark.django_db(transaction=True)
def test_bulk_store_reads_the_invitation_again_under_the_lock(org, customer, other_customer):
    survey = _one_page_survey("bulk")
    version = actions.live_version(survey)
    _moved, moved = actions.create_invitation(version, channel="link", customer=customer)
    used_invitation, used = actions.create_invitation(version, channel="link", customer=customer)
    items = [_ready(moved, 10), _ready(used, 0), _ready(used, 1)]
    # Between the preparation and the lock: a merge moves one invitation to another customer,
    # and the other link is answered elsewhere.
    type(used_invitation).objects.filter(pk=items[0][0]).update(customer=other_customer)
    actions.submit_page(
        actions.invitation_for_token(used),
        1,
        {"page": ["1"], "q_recommend": ["5"], "q_why": ["first"]},
        language="en",
    )
    with writer.answering_write():
        out = actions._store_many_at_once(items)
    assert out[1] is writer.AGAIN and out[2] is writer.AGAIN
    stored = Response.objects.get(pk=out[0].response.pk)
    assert stored.customer_id == other_customer.pk and stored.nps_score == 10
    assert stored.state == "completed"
    assert Response.objects.get(invitation=used_invitation).nps_score == 5


@pytest.mark.django_db(transaction=True)
def test_bulk_store_keeps_anonymous_answers_apart_from_their_invitation(org, customer):
    survey = _one_page_survey("anonymous", anonymous=True)
    invitation, token = actions.create_invitation(
        actions.live_version(survey), channel="link", customer=customer
    )
    with writer.answering_write():
        [outcome] = actions._store_many_at_once([_ready(token)])
    response = Response.objects.get(pk=outcome.response.pk)
    assert response.invitation_id is None and response.customer_id is None
    invitation.refresh_from_db()
    assert invitation.status == "completed" and invitation.completed_at == response.completed_at
    assert response.answers.count() == 2


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_batches_leave_the_wal_checkpoint_until_the_lock_is_let_go(org, monkeypatch):
    survey = _one_page_survey("checkpoint")
    token = actions.create_invitation(actions.live_version(survey), channel="link")[1]
    seen: list[int] = []

    def handler(_type, _payloads):  # inside the batch's transaction
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            seen.append(cursor.fetchone()[0])

    events.subscribe("response.completed")(handler)
    monkeypatch.setattr(writer, "CHECKPOINT_EVERY", 1)
    try:
        with CaptureQueriesContext(connection) as captured:
            page = Client().post(
                reverse("surveys_public:answer", args=[token]),
                {"page": "1", "q_recommend": "9", "q_why": "ok"},
            )
    finally:
        events._handlers["response.completed"].remove(handler)
    assert page.status_code == 302
    assert seen == [0]  # no automatic checkpoint inside the batch's COMMIT
    statements = [q["sql"] for q in captured.captured_queries]
    commit = statements.index("COMMIT")
    assert "PRAGMA wal_autocheckpoint = 1000" in statements[commit:]  # restored after it
    assert "PRAGMA wal_checkpoint(PASSIVE)" in statements[commit:]  # and done after it
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 1000
