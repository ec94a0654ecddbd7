"""The case state machine: every pair of states, and the closing rule."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from rapport.cases import states

ALLOWED = {
    ("new", "acknowledged"),
    ("acknowledged", "in_progress"),
    ("acknowledged", "awaiting_customer"),
    ("acknowledged", "awaiting_approval"),
    ("acknowledged", "resolved"),
    ("in_progress", "awaiting_customer"),
    ("in_progress", "awaiting_approval"),
    ("in_progress", "resolved"),
    ("awaiting_customer", "in_progress"),
    ("awaiting_customer", "awaiting_approval"),
    ("awaiting_customer", "resolved"),
    ("awaiting_approval", "in_progress"),
    ("resolved", "closed"),
    ("resolved", "in_progress"),
    ("closed", "in_progress"),
}


@pytest.mark.parametrize("pair", list(itertools.product(states.STATES, repeat=2)))
def test_every_pair(pair):
    current, target = pair
    if pair in ALLOWED:
        assert states.check_transition(current, target)
    else:
        with pytest.raises(states.IllegalTransition) as exc:
            states.check_transition(current, target)
        message = str(exc.value)
        assert str(states.STATES[current]) in message and str(states.STATES[target]) in message
        assert "can go to" in message


def test_reopen_is_named():
    assert states.check_transition("closed", "in_progress") == "reopen"
    assert states.check_transition("resolved", "in_progress") == "reopen"


def test_unknown_state():
    with pytest.raises(states.IllegalTransition, match="Unknown"):
        states.check_transition("new", "done")


NOW = dt.datetime(2025, 3, 20, 12, tzinfo=dt.UTC)


def facts(**kw):
    base = {
        "basis": "confirmed",
        "resolved_at": NOW - dt.timedelta(days=1),
        "now": NOW,
        "no_reply_days": 7,
    }
    return states.CloseFacts(**{**base, **kw})


def test_close_needs_a_basis():
    assert "Say why" in states.close_problem(facts(basis=""))
    assert "channel" in states.close_problem(facts(basis="confirmed"))
    assert states.close_problem(facts(basis="confirmed", confirmation_channel="phone")) is None
    assert "recovery" in states.close_problem(facts(basis="recovery_survey"))
    assert states.close_problem(facts(basis="recovery_survey", recovery_answered=True)) is None
    assert "Wait 7 days" in states.close_problem(facts(basis="no_reply"))
    late = facts(basis="no_reply", resolved_at=NOW - dt.timedelta(days=7))
    assert states.close_problem(late) is None


@pytest.mark.parametrize("current", list(states.REMEDY_STATES))
def test_remedy_granted_only_after_acceptance(current):
    if current == "accepted":
        states.check_remedy_transition(current, "granted")
    else:
        with pytest.raises(states.IllegalTransition):
            states.check_remedy_transition(current, "granted")
