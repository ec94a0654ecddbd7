"""The case and remedy state machines, and the rule for closing a case as resolved. Plain code.

Case states (ISO 10002's process in five steps: record, acknowledge, investigate, respond, close):

    | from              | to: action                                                      |
    |-------------------|-----------------------------------------------------------------|
    | new               | acknowledged: acknowledge                                       |
    | acknowledged      | in_progress: start, awaiting_customer, awaiting_approval,       |
    |                   | resolved: resolve                                               |
    | in_progress       | awaiting_customer, awaiting_approval, resolved: resolve         |
    | awaiting_customer | in_progress: resume, awaiting_approval, resolved: resolve       |
    | awaiting_approval | in_progress: resume (only by the approval decision)             |
    | resolved          | closed: close, in_progress: reopen                              |
    | closed            | in_progress: reopen                                             |

Every other pair is refused with a message naming where the case can go. `awaiting_approval` is
entered and left by the approval of a remedy (rapport.cases.actions), never by hand. The SLA
clock pauses in `awaiting_customer` only: waiting for an approval is the company's time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

NEW = "new"
ACKNOWLEDGED = "acknowledged"
IN_PROGRESS = "in_progress"
AWAITING_CUSTOMER = "awaiting_customer"
AWAITING_APPROVAL = "awaiting_approval"
RESOLVED = "resolved"
CLOSED = "closed"

STATES: dict[str, str] = {
    NEW: _("New"),
    ACKNOWLEDGED: _("Acknowledged"),
    IN_PROGRESS: _("In progress"),
    AWAITING_CUSTOMER: _("Awaiting customer"),
    AWAITING_APPROVAL: _("Awaiting approval"),
    RESOLVED: _("Resolved"),
    CLOSED: _("Closed"),
}
# Open: counts for "one open case per customer and topic", for load and for the SLA sweep.
OPEN_STATES = frozenset(STATES) - {CLOSED}
# Reached by hand through the generic transition (the others need their own action's data).
MANUAL_TARGETS = frozenset({IN_PROGRESS, AWAITING_CUSTOMER})

# (from, to) → the action's name.
TRANSITIONS: dict[tuple[str, str], str] = {
    (NEW, ACKNOWLEDGED): "acknowledge",
    (ACKNOWLEDGED, IN_PROGRESS): "start",
    (ACKNOWLEDGED, AWAITING_CUSTOMER): "await_customer",
    (ACKNOWLEDGED, AWAITING_APPROVAL): "await_approval",
    (ACKNOWLEDGED, RESOLVED): "resolve",
    (IN_PROGRESS, AWAITING_CUSTOMER): "await_customer",
    (IN_PROGRESS, AWAITING_APPROVAL): "await_approval",
    (IN_PROGRESS, RESOLVED): "resolve",
    (AWAITING_CUSTOMER, IN_PROGRESS): "resume",
    (AWAITING_CUSTOMER, AWAITING_APPROVAL): "await_approval",
    (AWAITING_CUSTOMER, RESOLVED): "resolve",
    (AWAITING_APPROVAL, IN_PROGRESS): "resume",
    (RESOLVED, CLOSED): "close",
    (RESOLVED, IN_PROGRESS): "reopen",
    (CLOSED, IN_PROGRESS): "reopen",
}


class IllegalTransition(ValueError):
    """A state change the machine does not allow; the message is for the user."""


def targets(state: str) -> list[str]:
    """Where a case in `state` may go, in the table's order."""
    return [to for (frm, to) in TRANSITIONS if frm == state]


def check_transition(current: str, target: str) -> str:
    """The action name of current → target, or IllegalTransition saying what is allowed."""
    for value in (current, target):
        if value not in STATES:
            raise IllegalTransition(_("Unknown case state %(state)r.") % {"state": value})
    action = TRANSITIONS.get((current, target))
    if action is None:
        allowed = ", ".join(str(STATES[s]) for s in targets(current)) or str(_("nowhere"))
        raise IllegalTransition(
            _("A case cannot go from %(frm)s to %(to)s; from %(frm)s it can go to: %(allowed)s.")
            % {"frm": STATES[current], "to": STATES[target], "allowed": allowed}
        )
    return action


# --- closing ----------------------------------------------------------------------------------

CONFIRMED = "confirmed"
RECOVERY_SURVEY = "recovery_survey"
NO_REPLY = "no_reply"
CLOSE_BASES: dict[str, str] = {
    CONFIRMED: _("The customer confirmed the resolution"),
    RECOVERY_SURVEY: _("The customer answered the recovery survey"),
    NO_REPLY: _("No reply from the customer"),
}


@dataclass(frozen=True)
class CloseFacts:
    basis: str
    resolved_at: dt.datetime | None
    now: dt.datetime
    no_reply_days: int
    confirmation_channel: str = ""
    recovery_answered: bool = False


def close_problem(facts: CloseFacts) -> str | None:
    """Why the case may not be closed as resolved yet, or None. Pledge 5 (003): the job is done
    only when the customer is satisfied — never assume they are; so a basis is required."""
    if facts.basis not in CLOSE_BASES:
        return str(_("Say why the case is closed: %(bases)s.") % {"bases": ", ".join(CLOSE_BASES)})
    if facts.basis == CONFIRMED and not facts.confirmation_channel:
        return str(_("Record the channel through which the customer confirmed."))
    if facts.basis == RECOVERY_SURVEY and not facts.recovery_answered:
        return str(_("The customer has not answered a recovery survey since the resolution."))
    if facts.basis == NO_REPLY:
        if facts.resolved_at is None:
            return str(_("The case has no resolution time."))
        waited = facts.now - facts.resolved_at
        if waited < dt.timedelta(days=facts.no_reply_days):
            return str(
                _("Wait %(days)d days after the resolution for a reply before closing without one.")
                % {"days": facts.no_reply_days}
            )
    return None


# --- remedies ---------------------------------------------------------------------------------

PROPOSED = "proposed"
REMEDY_AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
REFUSED = "refused"
OFFERED = "offered"
ACCEPTED = "accepted"
DECLINED = "declined"
GRANTED = "granted"
WITHDRAWN = "withdrawn"

REMEDY_STATES: dict[str, str] = {
    PROPOSED: _("Proposed"),
    REMEDY_AWAITING_APPROVAL: _("Awaiting approval"),
    APPROVED: _("Approved"),
    REFUSED: _("Refused"),
    OFFERED: _("Offered"),
    ACCEPTED: _("Accepted"),
    DECLINED: _("Declined"),
    GRANTED: _("Granted"),
    WITHDRAWN: _("Withdrawn"),
}
# Compensation is offered, not imposed: nothing reaches "granted" except through "accepted".
REMEDY_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (PROPOSED, REMEDY_AWAITING_APPROVAL),
        (PROPOSED, APPROVED),  # within the proposer's own authority
        (REMEDY_AWAITING_APPROVAL, APPROVED),
        (REMEDY_AWAITING_APPROVAL, REFUSED),
        (APPROVED, OFFERED),
        (OFFERED, ACCEPTED),
        (OFFERED, DECLINED),
        (ACCEPTED, GRANTED),
        (PROPOSED, WITHDRAWN),
        (REMEDY_AWAITING_APPROVAL, WITHDRAWN),
        (APPROVED, WITHDRAWN),
        (OFFERED, WITHDRAWN),
    }
)
REMEDY_LIVE = frozenset({PROPOSED, REMEDY_AWAITING_APPROVAL, APPROVED, OFFERED, ACCEPTED})


def check_remedy_transition(current: str, target: str) -> None:
    if (current, target) not in REMEDY_TRANSITIONS:
        if target == GRANTED:
            raise IllegalTransition(
                _("A remedy is granted only after the customer accepted it (it is %(state)s).")
                % {"state": REMEDY_STATES.get(current, current)}
            )
        raise IllegalTransition(
            _("A remedy cannot go from %(frm)s to %(to)s.")
            % {"frm": REMEDY_STATES.get(current, current), "to": REMEDY_STATES.get(target, target)}
        )
