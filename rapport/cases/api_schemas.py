"""The shapes of cases over HTTP: the request and response schemas of rapport.cases.api, and
the dicts that fill the response schemas from a case and its remedies, promises and messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Schema

from rapport.cases import states
from rapport.cases.actions import sla
from rapport.cases.models import Case, CaseEvent, CaseMessage, Promise, Remedy


class VersionIn(Schema):
    version: int


class CaseIn(Schema):
    customer_id: int
    subject: str
    topic: str = "experience"
    description: str = ""
    remedy_wanted: str = ""
    severity: str = "medium"
    unit: str | None = None
    owner: str | None = None


class TransitionIn(VersionIn):
    to: str
    note: str = ""


class TransferIn(VersionIn):
    to_staff: str
    reason: str


class NoteIn(VersionIn):
    text: str


class ReplyIn(VersionIn):
    body: str = ""
    what: str = ""
    by: dt.datetime | None = None


class RemedyIn(VersionIn):
    kind: str
    value: Decimal
    currency: str
    description: str = ""


class ConsentIn(VersionIn):
    accepted: bool
    channel: str
    given_at: dt.datetime | None = None


class WithdrawIn(VersionIn):
    reason: str = ""


class PromiseIn(VersionIn):
    text: str
    due_at: dt.datetime


class SettleIn(VersionIn):
    kept: bool


class ResolveIn(VersionIn):
    cause: str
    fix: str
    sub_cause: str = ""
    reusable: bool = False
    message: str = ""


class CloseIn(VersionIn):
    basis: str
    confirmation_channel: str = ""
    note: str = ""


class ReopenIn(VersionIn):
    reason: str


class DecisionIn(Schema):
    approve: bool
    reason: str = ""


class CaseOut(Schema):
    id: int
    ref: str
    version: int
    state: str
    customer_id: int
    customer: str
    topic: str
    subject: str
    source: str
    severity: str
    value_tier: str
    priority: str
    unit: str
    owner: str
    owner_id: int
    opened_at: dt.datetime
    resolve_due_at: dt.datetime | None
    breached: bool
    signal_count: int


class CasePage(Schema):
    items: list[CaseOut]
    page: int
    page_size: int
    has_next: bool


class CaseDetail(CaseOut):
    description: str
    remedy_wanted: str
    language: str
    response_id: int | None
    touchpoint_id: int | None
    cause: str
    sub_cause: str
    fix: str
    reusable: bool
    close_basis: str
    transfer_count: int
    reopen_count: int
    paused_minutes: float
    recovery_invitation_id: int | None
    recovery_response_id: int | None
    clocks: list[dict[str, Any]]
    events: list[dict[str, Any]]
    remedies: list[dict[str, Any]]
    promises: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    allowed_states: list[str]


class ApprovalOut(Schema):
    id: int
    case_id: int
    case_ref: str
    remedy_id: int
    remedy: str
    value: Decimal
    currency: str
    approver: str
    level: int
    requested_at: dt.datetime
    due_at: dt.datetime
    decision: str
    reason: str


def _breached(c: Case) -> bool:
    return any(getattr(c, f"{t}_breached_at") is not None for t in ("ack", "response", "resolve"))


def case_out(c: Case) -> dict[str, Any]:
    return {
        "id": c.pk,
        "ref": c.ref,
        "version": c.version,
        "state": c.state,
        "customer_id": c.customer_id,
        "customer": str(c.customer),
        "topic": c.topic,
        "subject": c.subject,
        "source": c.source,
        "severity": c.severity,
        "value_tier": c.value_tier,
        "priority": c.priority,
        "unit": c.unit.code,
        "owner": c.owner.code,
        "owner_id": c.owner_id,
        "opened_at": c.opened_at,
        "resolve_due_at": c.resolve_due_at,
        "breached": _breached(c),
        "signal_count": c.signal_count,
    }


def _event_out(e: CaseEvent) -> dict[str, Any]:
    return {
        "at": e.at,
        "actor": e.actor_label,
        "kind": e.kind,
        "field": e.field,
        "old": e.old,
        "new": e.new,
        "note": e.note,
    }


def _remedy_out(r: Remedy) -> dict[str, Any]:
    return {
        "id": r.pk,
        "kind": r.kind,
        "description": r.description,
        "value": str(r.value),
        "currency": r.currency,
        "status": r.status,
        "proposed_at": r.proposed_at,
        "consent_channel": r.consent_channel or None,
        "consent_at": r.consent_at,
        "granted_at": r.granted_at,
        "approvals": [
            {
                "id": a.pk,
                "approver": a.approver.code,
                "level": a.level,
                "due_at": a.due_at,
                "decision": a.decision,
                "reason": a.reason,
                "decided_at": a.decided_at,
            }
            for a in r.approvals.select_related("approver").order_by("level", "pk")
        ],
    }


def _promise_out(p: Promise) -> dict[str, Any]:
    return {
        "id": p.pk,
        "text": p.text,
        "due_at": p.due_at,
        "state": p.state,
        "settled_at": p.settled_at,
    }


def _message_out(m: CaseMessage) -> dict[str, Any]:
    return {
        "id": m.pk,
        "direction": m.direction,
        "kind": m.kind,
        "channel": m.channel,
        "subject": m.subject,
        "body": m.body,
        "status": m.status,
        "error": m.error,
        "created_at": m.created_at,
        "sent_at": m.sent_at,
    }


def case_detail(c: Case) -> dict[str, Any]:
    out = case_out(c)
    out.update(
        description=c.description,
        remedy_wanted=c.remedy_wanted,
        language=c.language,
        response_id=c.response_id,
        touchpoint_id=c.touchpoint_id,
        cause=c.cause,
        sub_cause=c.sub_cause,
        fix=c.fix,
        reusable=c.reusable,
        close_basis=c.close_basis,
        transfer_count=c.transfer_count,
        reopen_count=c.reopen_count,
        paused_minutes=c.paused_minutes,
        recovery_invitation_id=c.recovery_invitation_id,
        recovery_response_id=c.recovery_response_id,
        clocks=sla.clock_status(c),
        events=[_event_out(e) for e in c.events.order_by("at", "pk")],
        remedies=[_remedy_out(r) for r in c.remedies.order_by("proposed_at", "pk")],
        promises=[_promise_out(p) for p in c.promises.order_by("due_at", "pk")],
        messages=[_message_out(m) for m in c.messages.order_by("created_at", "pk")],
        allowed_states=states.targets(c.state),
    )
    return out


class InboundOut(Schema):
    id: int
    duplicate: bool
    status: str
    flagged: bool
    problems: list[str]
    case_id: int | None
    case_ref: str | None
    customer_id: int | None
    subject: str
    attachments: int


class ReportOut(Schema):
    key: str
    title: str
    unit: str
    start: dt.datetime
    end: dt.datetime
    headers: list[str]
    rows: list[list[Any]]
    note: str
