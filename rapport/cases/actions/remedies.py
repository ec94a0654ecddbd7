"""Remedies and their approvals: a proposal within the proposer's authority limit is approved at
once, above it an approval request goes up the org tree (and up again when nobody acts in time);
then the remedy is granted or withdrawn. The offer and the customer's answer are in `consent`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import messages, states
from rapport.cases.actions import SYSTEM, Actor, CaseError
from rapport.cases.actions.lifecycle import state_change
from rapport.cases.actions.ownership import approver_chain
from rapport.cases.actions.record import local_time, lock_case, payload, record_event, save_changes
from rapport.cases.actions.sla import calendar_for
from rapport.cases.models import ApprovalRequest, AuthorityLimit, Case, CaseSettings, Remedy
from rapport.core.events import emit
from rapport.org.models import OrgUnit, Staff


def authority_limit(staff: Staff | None, currency: str) -> Decimal:
    """What the person may grant alone in the currency: own limit, else their role's, else 0."""
    if staff is None:
        return Decimal(0)
    rows = AuthorityLimit.objects.filter(
        Q(staff=staff) | Q(role=staff.role, staff__isnull=True), currency=currency
    )
    own = role = None
    for row in rows:
        if row.staff_id:
            own = row.max_value
        else:
            role = row.max_value
    found = own if own is not None else role
    return found if found is not None else Decimal(0)


def _next_approver(
    unit: OrgUnit, skip: Iterable[int], value: Decimal, currency: str, after: Staff | None = None
) -> Staff | None:
    """The nearest manager up (past `after`) who may approve the value alone; else the highest."""
    chain = approver_chain(unit)
    if after is not None and after in chain:
        chain = chain[chain.index(after) + 1 :]
    chain = [s for s in chain if s.pk not in set(skip)]
    if not chain:
        return None
    for staff in chain:
        if authority_limit(staff, currency) >= value:
            return staff
    return chain[-1]


def propose_remedy(
    case_id: int,
    expected_version: int | None,
    actor: Actor,
    *,
    kind: str,
    value: Decimal | str | int,
    currency: str,
    description: str = "",
    now: dt.datetime | None = None,
) -> Remedy:
    """Propose compensation. Within the proposer's authority limit it is approved at once
    (resolve at once what is within your authority, 002); above it, an approval request goes to
    the next manager up the tree and the case waits for approval. Locks the case."""
    now = now or timezone.now()
    if kind not in Remedy.Kind.values:
        raise CaseError(_("Unknown remedy kind %(k)r.") % {"k": kind})
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise CaseError(_("The value %(v)r is not a number.") % {"v": value}) from exc
    if amount <= 0 or not amount.is_finite():
        raise CaseError(_("The value must be more than zero."))
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise CaseError(_("The currency must be a three-letter code like TWD."))
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        if case.state not in {states.ACKNOWLEDGED, states.IN_PROGRESS, states.AWAITING_CUSTOMER}:
            raise CaseError(
                _("A remedy can be proposed while the case is being worked on (it is %(s)s).")
                % {"s": states.STATES[case.state]}
            )
        proposer = actor.staff or case.owner
        remedy = Remedy.objects.create(
            case=case,
            kind=kind,
            description=description.strip()[:500],
            value=amount,
            currency=currency,
            proposed_by=proposer,
            proposed_at=now,
        )
        record_event(
            case,
            actor,
            "remedy",
            now,
            field="remedy",
            new=f"{remedy.pk}:{states.PROPOSED}",
            note=str(remedy),
        )
        limit = authority_limit(proposer, currency)
        if amount <= limit:
            set_remedy_status(
                remedy, states.APPROVED, case, actor, now, approved_by=proposer, decided_at=now
            )
            return remedy
        approver = _next_approver(case.unit, {proposer.pk}, amount, currency)
        if approver is None:
            raise CaseError(_("Nobody above you can approve this remedy; ask an administrator."))
        set_remedy_status(remedy, states.REMEDY_AWAITING_APPROVAL, case, actor, now)
        request = _request_approval(remedy, case, approver, 1, actor, now)
        changes = state_change(case, states.AWAITING_APPROVAL, now)
        save_changes(
            case,
            changes,
            actor,
            now,
            note=_("%(v)s %(c)s is above %(who)s's limit of %(limit)s")
            % {"v": amount, "c": currency, "who": proposer, "limit": limit},
        )
        emit(
            "case.escalated",
            [
                {
                    **payload(case),
                    "reason": "approval",
                    "approval_id": request.pk,
                    "approver_id": approver.pk,
                    "level": 1,
                }
            ],
        )
        return remedy


def set_remedy_status(
    remedy: Remedy, target: str, case: Case, actor: Actor, now: dt.datetime, **fields: Any
) -> None:
    """Move the remedy on (refused when illegal or changed meanwhile) and audit it."""
    states.check_remedy_transition(remedy.status, target)
    updated = Remedy.objects.filter(pk=remedy.pk, status=remedy.status).update(
        status=target, **fields
    )
    if updated != 1:
        raise CaseError(_("The remedy was changed meanwhile; reload the case."))
    record_event(
        case,
        actor,
        "remedy",
        now,
        field="remedy",
        old=f"{remedy.pk}:{remedy.status}",
        new=f"{remedy.pk}:{target}",
    )
    remedy.status = target
    for name, value in fields.items():
        setattr(remedy, name, value)


def _request_approval(
    remedy: Remedy, case: Case, approver: Staff, level: int, actor: Actor, now: dt.datetime
) -> ApprovalRequest:
    minutes = CaseSettings.current().approval_minutes
    due = calendar_for(approver.unit).add_minutes(now, minutes)
    request = ApprovalRequest.objects.create(
        remedy=remedy, approver=approver, level=level, requested_at=now, due_at=due
    )
    record_event(
        case,
        actor,
        "approval",
        now,
        field="approver",
        new=f"{approver.pk}:{approver}",
        note=_("Approval requested (level %(level)d), due %(due)s.")
        % {"level": level, "due": local_time(due, approver.unit)},
    )
    messages.notify_staff(
        approver,
        _("Approval needed: %(ref)s") % {"ref": case.ref},
        _("%(remedy)s on case %(ref)s needs your approval by %(due)s.")
        % {"remedy": remedy, "ref": case.ref, "due": local_time(due, approver.unit)},
    )
    return request


def decide_approval(
    request_id: int, approve: bool, reason: str, actor: Actor, now: dt.datetime | None = None
) -> ApprovalRequest:
    """Approve or refuse a remedy, with a reason (required for a refusal). Only the approver
    asked, or an enterprise-wide manager, may decide. Locks the case; the request is taken with a
    conditional UPDATE, so a decision and an escalation cannot both happen."""
    now = now or timezone.now()
    if not approve and not reason.strip():
        raise CaseError(_("Give the reason for refusing; the owner will tell the customer."))
    request = (
        ApprovalRequest.objects.select_related("remedy", "approver").filter(pk=request_id).first()
    )
    if request is None:
        raise CaseError(_("No such approval request."))
    staff = actor.staff
    if staff is not None and staff.pk != request.approver_id and not staff.sees_whole_enterprise:
        raise CaseError(_("This approval was asked of %(who)s.") % {"who": request.approver})
    with transaction.atomic():
        case = lock_case(request.remedy.case_id, None)
        decision = (
            ApprovalRequest.Decision.APPROVED if approve else ApprovalRequest.Decision.REFUSED
        )
        taken = ApprovalRequest.objects.filter(
            pk=request.pk, decision=ApprovalRequest.Decision.PENDING
        ).update(decision=decision, reason=reason.strip(), decided_at=now, decided_by=staff)
        if not taken:
            raise CaseError(_("This approval request was already decided or passed on."))
        remedy = Remedy.objects.get(pk=request.remedy_id)
        if approve:
            set_remedy_status(
                remedy,
                states.APPROVED,
                case,
                actor,
                now,
                approved_by=staff or request.approver,
                decided_at=now,
            )
        else:
            set_remedy_status(remedy, states.REFUSED, case, actor, now, decided_at=now)
        record_event(
            case, actor, "approval", now, field="decision", new=decision, note=reason.strip()
        )
        pending = ApprovalRequest.objects.filter(
            remedy__case=case, decision=ApprovalRequest.Decision.PENDING
        ).exists()
        if case.state == states.AWAITING_APPROVAL and not pending:
            save_changes(
                case, state_change(case, states.IN_PROGRESS, now), actor, now, note=reason.strip()
            )
        request.refresh_from_db()
        return request


def escalate_overdue_approvals(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Pass each approval request nobody acted on in time one level further up the tree.
    Each request is taken with a conditional UPDATE in the transaction that writes the next one,
    so a run cut short escalates it next time, and two runs escalate it once."""
    now = now or timezone.now()
    done = 0
    due = ApprovalRequest.objects.filter(decision=ApprovalRequest.Decision.PENDING, due_at__lte=now)
    for request_id in list(due.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            request = ApprovalRequest.objects.select_related("remedy", "approver").get(
                pk=request_id
            )
            case = lock_case(request.remedy.case_id, None)
            asked = set(
                ApprovalRequest.objects.filter(remedy=request.remedy).values_list(
                    "approver_id", flat=True
                )
            ) | {request.remedy.proposed_by_id}
            higher = _next_approver(
                case.unit,
                asked,
                request.remedy.value,
                request.remedy.currency,
                after=request.approver,
            )
            if higher is None:
                # Nobody above: keep it with the top approver and remind them after another period.
                moved = ApprovalRequest.objects.filter(
                    pk=request.pk, decision="pending", due_at=request.due_at
                ).update(
                    due_at=calendar_for(request.approver.unit).add_minutes(
                        now, CaseSettings.current().approval_minutes
                    )
                )
                if moved:
                    record_event(
                        case,
                        SYSTEM,
                        "approval",
                        now,
                        field="overdue",
                        new=f"{request.approver_id}",
                        note=_("Approval overdue; nobody higher to pass it to."),
                    )
                continue
            taken = ApprovalRequest.objects.filter(
                pk=request.pk, decision=ApprovalRequest.Decision.PENDING, due_at__lte=now
            ).update(decision=ApprovalRequest.Decision.ESCALATED, decided_at=now)
            if not taken:
                continue
            new = _request_approval(request.remedy, case, higher, request.level + 1, SYSTEM, now)
            record_event(
                case,
                SYSTEM,
                "escalated",
                now,
                field="approver",
                old=f"{request.approver_id}:{request.approver}",
                new=f"{higher.pk}:{higher}",
                note=_("Not acted on in time."),
            )
            emit(
                "case.escalated",
                [
                    {
                        **payload(case),
                        "reason": "approval_overdue",
                        "approval_id": new.pk,
                        "approver_id": higher.pk,
                        "level": new.level,
                    }
                ],
            )
            done += 1
    return done


def case_remedy(case: Case, remedy_id: int) -> Remedy:
    """The remedy of this case; another case's remedy is refused."""
    remedy = Remedy.objects.filter(pk=remedy_id, case=case).first()
    if remedy is None:
        raise CaseError(_("No such remedy on this case."))
    return remedy


def grant_remedy(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Remedy:
    """Grant an accepted remedy (refused for anything the customer has not accepted).
    Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        remedy = case_remedy(case, remedy_id)
        set_remedy_status(
            remedy, states.GRANTED, case, actor, now, granted_at=now, granted_by=actor.staff
        )
        save_changes(case, {}, actor, now)
        return remedy


def withdraw_remedy(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    reason: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Remedy:
    """Take back a remedy not yet accepted; its pending approvals are withdrawn. Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = lock_case(case_id, expected_version)
        remedy = case_remedy(case, remedy_id)
        set_remedy_status(remedy, states.WITHDRAWN, case, actor, now)
        ApprovalRequest.objects.filter(remedy=remedy, decision="pending").update(
            decision=ApprovalRequest.Decision.WITHDRAWN, decided_at=now, reason=reason
        )
        changes: dict[str, Any] = {}
        pending = ApprovalRequest.objects.filter(remedy__case=case, decision="pending").exists()
        if case.state == states.AWAITING_APPROVAL and not pending:
            changes = state_change(case, states.IN_PROGRESS, now)
        save_changes(case, changes, actor, now, note=reason)
        return remedy
