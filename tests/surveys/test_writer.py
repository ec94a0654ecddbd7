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
