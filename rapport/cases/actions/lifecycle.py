"""Moving a case through its states (rapport.cases.states): acknowledge, start, wait for the
customer (the SLA clocks pause) and resume, resolve, close, reopen — and the recovery survey that
follows a resolution."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import clocks, messages, states
from rapport.cases.actions import SYSTEM, Actor, CaseError
from rapport.cases.actions.opening import open_case_of
from rapport.cases.actions.record import lock_case, payload, record_event, save_changes
from rapport.cases.actions.sla import calendar_for, clock_fields, with_next_check
from rapport.cases.models import CHURN_CAUSES, Case, CaseSettings, Remedy
from rapport.core.events import emit


def _unpause(case: Case, now: dt.datetime) -> dict[str, Any]:
    """The clock fields after a wait for the customer ends."""
    if case.paused_at is None:
        return {}
    moved, minutes = clocks.shifted(
        clock_fields(case), case.paused_at, now, calendar_for(case.unit)
    )
    fields = {**clock_fields(case), **moved}
    return {
        **moved,
        "paused_at": None,
        "paused_minutes": case.paused_minutes + minutes,
        "sla_next_at": clocks.next_check(fields, paused=False),
    }


def state_change(case: Case, target: str, now: dt.datetime) -> dict[str, Any]:
    """The changes of a move to `target` (refused when illegal), with the clock pause or resume."""
    states.check_transition(case.state, target)
    changes: dict[str, Any] = {"state": target}
    if case.state == states.AWAITING_CUSTOMER:
        changes.update(_unpause(case, now))
    if target == states.AWAITING_CUSTOMER:
        changes.update(paused_at=now, sla_next_at=None)
    return changes


def acknowledge(
    case_id: int, expected_version: int | None, actor: Actor, now: dt.datetime | None = None
) -> Case:
    """new → acknowledged: the owner has taken the case (stops the acknowledge clock).
    Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        changes = state_change(case, states.ACKNOWLEDGED, now)
        changes["acknowledged_at"] = now
        return save_changes(case, with_next_check(case, changes), actor, now)


def transition(
    case_id: int,
    expected_version: int | None,
    target: str,
    actor: Actor,
    note: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """Start work, wait for the customer (the SLA clock pauses) or resume. Locks the case."""
    now = now or timezone.now()
    if target not in states.MANUAL_TARGETS:
        raise CaseError(
            _("Use the case's own action to move it to %(state)s.")
            % {"state": states.STATES.get(target, target)}
        )
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        if case.state == states.AWAITING_APPROVAL:
            raise CaseError(
                _("The case waits for an approval; it moves on when the approver decides.")
            )
        changes = state_change(case, target, now)
        return save_changes(case, changes, actor, now, note=note)


def resolve(
    case_id: int,
    expected_version: int | None,
    actor: Actor,
    *,
    cause: str,
    fix: str,
    sub_cause: str = "",
    reusable: bool = False,
    message: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """The problem is solved: record the cause (the eight churn causes), what fixed it and
    whether it is reusable knowledge; optionally tell the customer. Locks the case."""
    now = now or timezone.now()
    if cause not in CHURN_CAUSES:
        raise CaseError(_("Choose the cause: %(causes)s.") % {"causes": ", ".join(CHURN_CAUSES)})
    if not fix.strip():
        raise CaseError(_("Say what fixed it."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        live = Remedy.objects.filter(
            case=case, status__in=[states.OFFERED, states.ACCEPTED]
        ).exists()
        if live:
            raise CaseError(
                _("A remedy is still offered or accepted but not granted; finish it first.")
            )
        changes = state_change(case, states.RESOLVED, now)
        changes.update(
            resolved_at=now,
            cause=cause,
            sub_cause=sub_cause.strip()[:200],
            fix=fix.strip(),
            reusable=reusable,
        )
        if case.first_response_at is None and message.strip():
            changes["first_response_at"] = now
        if message.strip():
            sent = messages.queue(
                case, "resolution", {"body": message.strip()}, actor.staff or case.owner, now
            )
            record_event(case, actor, "message", now, new=sent.status, note=sent.subject)
        case = save_changes(
            case, {**changes, "sla_next_at": None}, actor, now
        )  # work done: no more checks
        emit("case.resolved", [payload(case)])
        return case


def close(
    case_id: int,
    expected_version: int | None,
    basis: str,
    actor: Actor,
    *,
    confirmation_channel: str = "",
    note: str = "",
    now: dt.datetime | None = None,
) -> Case:
    """Close a resolved case on a basis: the customer confirmed, answered the recovery survey, or
    did not reply for N days. Then the recovery survey (if configured, and not already sent since
    the resolution) goes out through the contact rules of [surveys]. Locks the case."""
    from rapport.surveys.distribution import invite_after_event

    now = now or timezone.now()
    config = CaseSettings.current()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        recovery = bool(
            case.recovery_response_id
            and case.resolved_at
            and case.recovery_response.completed_at
            and case.recovery_response.completed_at >= case.resolved_at
        )
        problem = states.close_problem(
            states.CloseFacts(
                basis=basis,
                resolved_at=case.resolved_at,
                now=now,
                no_reply_days=config.no_reply_days,
                confirmation_channel=confirmation_channel,
                recovery_answered=recovery,
            )
        )
        if problem:
            raise CaseError(problem)
        changes = state_change(case, states.CLOSED, now)
        changes.update(closed_at=now, close_basis=basis, sla_next_at=None)
        label = f"{basis} ({confirmation_channel})" if confirmation_channel else basis
        case = save_changes(case, changes, actor, now, note=note or label)
        emit("case.closed", [payload(case)])
        sent = case.recovery_invitation
        already_sent = bool(sent and case.resolved_at and sent.created_at >= case.resolved_at)
        if config.recovery_survey_id and not config.recovery_survey.archived and not already_sent:
            invitation = invite_after_event(
                case.customer,
                config.recovery_survey,
                touchpoint=case.touchpoint,
                delay=dt.timedelta(hours=config.recovery_delay_hours),
                reason=f"recovery {case.ref}",
                now=now,
            )
            if invitation is not None:
                Case.objects.filter(pk=case.pk).update(recovery_invitation=invitation)
                case.recovery_invitation = invitation
                record_event(
                    case,
                    actor,
                    "recovery",
                    now,
                    new=invitation.status,
                    note=invitation.suppressed_by,
                )
        return case


def reopen(
    case_id: int,
    expected_version: int | None,
    reason: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Case:
    """The customer is not satisfied after all: back to in progress, with the reason. Refused when
    another case of the customer on the topic is open (work there instead). Locks the case."""
    now = now or timezone.now()
    if not reason.strip():
        raise CaseError(_("Say why the case is reopened."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        changes = state_change(case, states.IN_PROGRESS, now)
        changes.update(
            resolved_at=None, closed_at=None, close_basis="", reopen_count=case.reopen_count + 1
        )
        try:
            with transaction.atomic():
                return save_changes(
                    case, with_next_check(case, changes), actor, now, note=reason.strip()
                )
        except IntegrityError as exc:
            other = open_case_of(case.customer_id, case.topic)
            raise CaseError(
                _("Case %(ref)s of this customer on the same topic is open; continue there.")
                % {"ref": other.ref if other else "?"}
            ) from exc


def send_recovery_survey(
    case_id: int, expected_version: int | None, actor: Actor, now: dt.datetime | None = None
) -> Case:
    """Send the configured recovery survey now to the customer of a resolved case, through the
    contact rules of [surveys], so that the answer can be the basis for closing (score before →
    after). Refused without a configured survey or when one was sent since the resolution.
    Locks the case."""
    from rapport.surveys.distribution import invite_after_event

    now = now or timezone.now()
    config = CaseSettings.current()
    if not config.recovery_survey_id or config.recovery_survey.archived:
        raise CaseError(_("No recovery survey is configured (case settings)."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        if case.state != states.RESOLVED:
            raise CaseError(_("The recovery survey goes to the customer of a resolved case."))
        sent = case.recovery_invitation
        if sent is not None and case.resolved_at and sent.created_at >= case.resolved_at:
            raise CaseError(_("The recovery survey was already sent after the resolution."))
        invitation = invite_after_event(
            case.customer,
            config.recovery_survey,
            touchpoint=None,
            reason=f"recovery {case.ref}",
            now=now,
        )
        if invitation is None:
            raise CaseError(_("The recovery survey could not be scheduled."))
        record_event(
            case, actor, "recovery", now, new=invitation.status, note=invitation.suppressed_by
        )
        return save_changes(
            case, {"recovery_invitation": invitation, "recovery_response": None}, actor, now
        )


def record_recovery_response(
    response_id: int, invitation_id: int | None, now: dt.datetime | None = None
) -> Case | None:
    """Link a completed recovery-survey response to its case (score before → after)."""
    if not invitation_id:
        return None
    now = now or timezone.now()
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(recovery_invitation_id=invitation_id).first()
        if case is None or case.recovery_response_id:
            return None
        Case.objects.filter(pk=case.pk).update(recovery_response_id=response_id)
        record_event(case, SYSTEM, "recovery", now, field="recovery_response", new=str(response_id))
        return case
