"""Cases over HTTP: the inbox list, a case with its trail, remedies, promises and clocks, opening
a case, every action, and the approval queue.

Thin: the work is in rapport.cases.actions. Every action takes the `version` the caller last saw;
a stale one answers 409 with the error shape and changes nothing. Scoped: an agent or unit
manager sees and acts on their subtree's cases only; another unit's case is a 404. The schemas
and the shapes of the answers are in rapport.cases.api_schemas; the endpoints stay here, since
their OpenAPI operation ids are named after this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from rapport.cases import states
from rapport.cases.actions import (
    Actor,
    CaseError,
    Conflict,
    consent,
    lifecycle,
    notes,
    opening,
    ownership,
    promises,
    remedies,
)
from rapport.cases.api_schemas import (
    ApprovalOut,
    CaseDetail,
    CaseIn,
    CasePage,
    CloseIn,
    ConsentIn,
    DecisionIn,
    InboundOut,
    NoteIn,
    PromiseIn,
    RemedyIn,
    ReopenIn,
    ReplyIn,
    ReportOut,
    ResolveIn,
    SettleIn,
    TransferIn,
    TransitionIn,
    VersionIn,
    WithdrawIn,
    case_detail,
    case_out,
)
from rapport.cases.models import BREACHED, ApprovalRequest, Case, Remedy
from rapport.core.apiutil import ApiError, auth, get_visible, principal
from rapport.customers.models import Customer
from rapport.org import scoping
from rapport.org.models import OrgUnit, Staff

router = Router(tags=["cases"])

MAX_PAGE_SIZE = 200
DUE_SOON = dt.timedelta(hours=4)
READ, WRITE = auth("cases:read"), auth("cases:write")


# --- helpers ----------------------------------------------------------------------------------


def actor_of(request: HttpRequest) -> Actor:
    caller = principal(request)
    if caller.key is not None:
        return Actor.system(f"api:{caller.key.name}")
    staff = getattr(caller.user, "staff", None)
    if staff is not None:
        return Actor(staff=staff)
    return Actor.system(f"user:{caller.user.get_username()}")


def visible_cases(request: HttpRequest) -> QuerySet[Case]:
    return principal(request).scoped(Case.objects.all(), "unit")


def visible_case(request: HttpRequest, case_id: int) -> Case:
    return get_visible(
        Case.objects.select_related("unit", "owner", "customer"), request, "unit", pk=case_id
    )  # type: ignore[return-value]


def _fresh(case_id: int) -> dict[str, Any]:
    return case_detail(Case.objects.select_related("unit", "owner", "customer").get(pk=case_id))


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an action and answer its refusals in the error shape: 409 for a stale version or an
    illegal transition, 422 for anything else the user must change."""
    try:
        return fn(*args, **kwargs)
    except Conflict as exc:
        raise ApiError(
            409,
            str(exc),
            "conflict",
            [{"loc": ["body", "version"], "msg": f"current version is {exc.current}"}],
        ) from exc
    except states.IllegalTransition as exc:
        raise ApiError(409, str(exc), "illegal_transition") from exc
    except CaseError as exc:
        raise ApiError(
            422, str(exc), "validation_error", [{"loc": ["body"], "msg": str(exc)}]
        ) from exc


def _staff_by_code(code: str, field: str) -> Staff:
    staff = Staff.objects.select_related("unit").filter(code=code, active=True).first()
    if staff is None:
        raise ApiError(
            422,
            _("No active staff member %(code)s.") % {"code": code},
            "validation_error",
            [{"loc": ["body", field], "msg": _("unknown staff code")}],
        )
    return staff


# --- email intake (before the /{case_id} routes, which would take its path) ----------


@router.post(
    "/inbound-email",
    auth=WRITE,
    response={200: InboundOut, 201: InboundOut},
    openapi_extra={
        "requestBody": {
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
def inbound_email(request: HttpRequest) -> Any:
    """Receive one customer email as raw MIME (the body is the RFC 822 message, any content
    type): stored, threaded into its case or opening one, like mail piped to
    `rapport cases receive-mail`. 201 when new, 200 when this exact message was already
    received. A malformed message is stored and flagged, never refused."""
    from rapport.cases import mail_actions
    from rapport.core.apiutil import read_body

    raw = read_body(request)
    if not raw.strip():
        raise ApiError(
            422,
            _("The body is empty: send the raw email message."),
            "validation_error",
            [{"loc": ["body"], "msg": _("expected an RFC 822 message")}],
        )
    row, duplicate = mail_actions.receive(raw, "api")
    out = {
        "id": row.pk,
        "duplicate": duplicate,
        "status": row.status,
        "flagged": row.flagged,
        "problems": list(row.problems or []),
        "case_id": row.case_id,
        "case_ref": f"C-{row.case_id:06d}" if row.case_id else None,
        "customer_id": row.customer_id,
        "subject": row.subject,
        "attachments": row.attachments.count(),
    }
    return Status(200 if duplicate else 201, out)


# --- reports ------------------------------------------------------------------------------


@router.get("/reports/{key}", auth=READ, response=ReportOut)
def report(
    request: HttpRequest,
    key: str,
    unit: str = Query("", description="unit code (default: the caller's unit / the enterprise)"),
    start: str = Query("", alias="from", description="first day (default: 12 weeks ago)"),
    end: str = Query("", alias="to", description="last day, included (default: today)"),
) -> dict[str, Any]:
    """One case report table (volume, times, sla, fcr, transfers_unit, transfers_person,
    approvals, recovery, trend) for a unit's subtree and period, as on /cases/reports/."""
    from rapport.cases import reports
    from rapport.core.apiutil import enterprise_tz, parse_instant

    if key not in reports.TABLES:
        raise ApiError(
            404,
            _("No report %(key)s; known: %(known)s.")
            % {"key": key, "known": ", ".join(reports.TABLES)},
        )
    cases = visible_cases(request)
    caller = actor_of(request).staff
    root = OrgUnit.objects.filter(code=unit).first() if unit else None
    if unit and root is None:
        raise ApiError(
            422,
            _("Unknown unit %(code)s.") % {"code": unit},
            "validation_error",
            [{"loc": ["query", "unit"], "msg": _("no unit with this code")}],
        )
    if root is None:
        root = caller.unit if caller and not caller.sees_whole_enterprise else OrgUnit.enterprise()
    who = principal(request)
    prefix = "" if who.key is not None else scoping.unit_path(who.user)
    if root is None or prefix is None or not root.path.startswith(prefix):
        raise ApiError(404, _("Not found."), "not_found")  # another unit's figures are not there
    now = timezone.now()
    begin = parse_instant(start, "from") or now - dt.timedelta(weeks=12)
    finish = parse_instant(end, "to", end=True) or now
    table = reports.build(
        key, reports.scope(cases, root.path), reports.Period(begin, finish, enterprise_tz())
    )
    return {
        "key": table.key,
        "title": str(table.title),
        "unit": root.code,
        "start": begin,
        "end": finish,
        "headers": [str(h) for h in table.headers],
        "rows": table.rows,
        "note": str(table.note),
    }


@router.get("", auth=READ, response=CasePage)
def list_cases(
    request: HttpRequest,
    mine: bool = Query(False, description="only cases I own"),
    unit: str = Query("", description="unit code: that unit and the units under it"),
    state: str = Query("", description="comma-separated states; default: all open states"),
    due_soon: bool = Query(False, description="a clock runs out within 4 hours"),
    breached: bool = Query(False, description="a target was missed"),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """The inbox, most urgent first (earliest resolution due)."""
    qs = visible_cases(request)
    wanted = [s.strip() for s in state.split(",") if s.strip()] or sorted(states.OPEN_STATES)
    unknown = [s for s in wanted if s not in states.STATES]
    if unknown:
        raise ApiError(
            422,
            _("Unknown state: %(s)s.") % {"s": ", ".join(unknown)},
            "validation_error",
            [{"loc": ["query", "state"], "msg": ", ".join(states.STATES)}],
        )
    qs = qs.filter(state__in=wanted)
    if mine:
        staff = actor_of(request).staff
        qs = qs.filter(owner=staff) if staff else qs.none()
    if unit:
        path = OrgUnit.objects.filter(code=unit).values_list("path", flat=True).first()
        if path is None:
            raise ApiError(
                422,
                _("Unknown unit %(code)s.") % {"code": unit},
                "validation_error",
                [{"loc": ["query", "unit"], "msg": _("no unit with this code")}],
            )
        qs = qs.filter(unit__path__startswith=path)
    now = timezone.now()
    if due_soon:
        soon = now + DUE_SOON
        qs = qs.filter(paused_at__isnull=True).filter(
            Q(ack_due_at__lte=soon, acknowledged_at__isnull=True, ack_breached_at__isnull=True)
            | Q(
                response_due_at__lte=soon,
                first_response_at__isnull=True,
                response_breached_at__isnull=True,
            )
            | Q(
                resolve_due_at__lte=soon, resolved_at__isnull=True, resolve_breached_at__isnull=True
            )
        )
    if breached:
        qs = qs.filter(BREACHED)
    start = (page - 1) * page_size
    rows = list(
        qs.select_related("unit", "owner", "customer").order_by("resolve_due_at", "pk")[
            start : start + page_size + 1
        ]
    )
    return {
        "items": [case_out(c) for c in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


@router.get("/approvals", auth=READ, response=list[ApprovalOut])
def approval_queue(
    request: HttpRequest,
    everyone: bool = Query(False, alias="all", description="all pending (managers)"),
) -> list[dict[str, Any]]:
    """Pending approval requests: mine; with all=true (an API key, a CX manager or admin) all."""
    qs = ApprovalRequest.objects.filter(decision=ApprovalRequest.Decision.PENDING)
    qs = principal(request).scoped(qs, "remedy__case__unit")
    caller = actor_of(request)
    if caller.staff is not None and not (everyone and caller.staff.sees_whole_enterprise):
        qs = qs.filter(approver=caller.staff)
    rows = qs.select_related("remedy__case", "approver").order_by("due_at", "pk")[:500]
    return [
        {
            "id": a.pk,
            "case_id": a.remedy.case_id,
            "case_ref": a.remedy.case.ref,
            "remedy_id": a.remedy_id,
            "remedy": str(a.remedy),
            "value": a.remedy.value,
            "currency": a.remedy.currency,
            "approver": a.approver.code,
            "level": a.level,
            "requested_at": a.requested_at,
            "due_at": a.due_at,
            "decision": a.decision,
            "reason": a.reason,
        }
        for a in rows
    ]


@router.post("/approvals/{approval_id}/decide", auth=WRITE, response=ApprovalOut)
def decide(request: HttpRequest, approval_id: int, body: DecisionIn) -> dict[str, Any]:
    """Approve or refuse (a refusal needs a reason). Only the approver asked, or an
    enterprise-wide manager, may decide."""
    found = get_visible(
        ApprovalRequest.objects.all(), request, "remedy__case__unit", pk=approval_id
    )
    a = _run(remedies.decide_approval, found.pk, body.approve, body.reason, actor_of(request))
    remedy = Remedy.objects.select_related("case").get(pk=a.remedy_id)
    return {
        "id": a.pk,
        "case_id": remedy.case_id,
        "case_ref": remedy.case.ref,
        "remedy_id": remedy.pk,
        "remedy": str(remedy),
        "value": remedy.value,
        "currency": remedy.currency,
        "approver": a.approver.code,
        "level": a.level,
        "requested_at": a.requested_at,
        "due_at": a.due_at,
        "decision": a.decision,
        "reason": a.reason,
    }


@router.get("/{case_id}", auth=READ, response=CaseDetail)
def get_case(request: HttpRequest, case_id: int) -> dict[str, Any]:
    """The case with its clocks, audit trail, remedies (with approvals), promises and messages."""
    return case_detail(visible_case(request, case_id))


# --- writing ----------------------------------------------------------------------------------


@router.post("", auth=WRITE, response={200: CaseDetail, 201: CaseDetail})
def create(request: HttpRequest, body: CaseIn) -> Status:
    """Open a case (or attach to the customer's open case on the same topic: 200 instead of 201)."""
    customer = get_visible(Customer.objects.all(), request, "home_unit", pk=body.customer_id)
    unit = None
    if body.unit:
        unit = OrgUnit.objects.filter(code=body.unit).first()
        if unit is None or not _in_scope(request, unit):
            raise ApiError(
                422,
                _("Unknown unit %(code)s.") % {"code": body.unit},
                "validation_error",
                [{"loc": ["body", "unit"], "msg": _("no unit with this code")}],
            )
    owner = _staff_by_code(body.owner, "owner") if body.owner else None
    if owner is not None and not _in_scope(request, owner.unit):
        raise ApiError(
            422,
            _("%(who)s works in a unit you cannot see.") % {"who": owner.code},
            "validation_error",
            [{"loc": ["body", "owner"], "msg": _("not in your units")}],
        )
    caller = principal(request)
    source = Case.Source.API if caller.key is not None else Case.Source.MANUAL
    case, created = _run(
        opening.create_case,
        customer,
        body.subject,
        actor_of(request),
        topic=body.topic,
        description=body.description,
        remedy_wanted=body.remedy_wanted,
        severity=body.severity,
        source=source,
        unit=unit,
        owner=owner,
    )
    return Status(201 if created else 200, _fresh(case.pk))


def _in_scope(request: HttpRequest, unit: OrgUnit) -> bool:
    caller = principal(request)
    if caller.key is not None:
        return True
    prefix = scoping.unit_path(caller.user)
    return prefix is not None and unit.path.startswith(prefix)


def _act(request: HttpRequest, case_id: int, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    case = visible_case(request, case_id)
    _run(fn, case.pk, *args, **kwargs)
    return _fresh(case.pk)


@router.post("/{case_id}/acknowledge", auth=WRITE, response=CaseDetail)
def acknowledge(request: HttpRequest, case_id: int, body: VersionIn) -> dict[str, Any]:
    return _act(request, case_id, lifecycle.acknowledge, body.version, actor_of(request))


@router.post("/{case_id}/transition", auth=WRITE, response=CaseDetail)
def transition(request: HttpRequest, case_id: int, body: TransitionIn) -> dict[str, Any]:
    """Start work (to=in_progress), wait for the customer (awaiting_customer: the SLA clock
    pauses) or resume. Other states have their own action."""
    return _act(
        request, case_id, lifecycle.transition, body.version, body.to, actor_of(request), body.note
    )


@router.post("/{case_id}/transfer", auth=WRITE, response=CaseDetail)
def transfer(request: HttpRequest, case_id: int, body: TransferIn) -> dict[str, Any]:
    to_staff = _staff_by_code(body.to_staff, "to_staff")
    return _act(
        request, case_id, ownership.transfer, body.version, to_staff, body.reason, actor_of(request)
    )


@router.post("/{case_id}/notes", auth=WRITE, response=CaseDetail)
def add_note(request: HttpRequest, case_id: int, body: NoteIn) -> dict[str, Any]:
    return _act(request, case_id, notes.add_note, body.version, body.text, actor_of(request))


@router.post("/{case_id}/replies", auth=WRITE, response=CaseDetail)
def reply(request: HttpRequest, case_id: int, body: ReplyIn) -> dict[str, Any]:
    """A message to the customer: `body`, or `what` you will check and `by` when (a promise)."""
    return _act(
        request,
        case_id,
        notes.reply,
        body.version,
        actor_of(request),
        body=body.body,
        what=body.what,
        by=body.by,
    )


@router.post("/{case_id}/remedies", auth=WRITE, response=CaseDetail)
def propose_remedy(request: HttpRequest, case_id: int, body: RemedyIn) -> dict[str, Any]:
    """Above the proposer's authority limit, an approval request goes up the org tree."""
    return _act(
        request,
        case_id,
        remedies.propose_remedy,
        body.version,
        actor_of(request),
        kind=body.kind,
        value=body.value,
        currency=body.currency,
        description=body.description,
    )


@router.post("/{case_id}/remedies/{remedy_id}/offer", auth=WRITE, response=CaseDetail)
def offer_remedy(
    request: HttpRequest, case_id: int, remedy_id: int, body: VersionIn
) -> dict[str, Any]:
    return _act(request, case_id, consent.offer_remedy, body.version, remedy_id, actor_of(request))


@router.post("/{case_id}/remedies/{remedy_id}/consent", auth=WRITE, response=CaseDetail)
def record_consent(
    request: HttpRequest, case_id: int, remedy_id: int, body: ConsentIn
) -> dict[str, Any]:
    """The customer's answer to the offer, with the channel and the time they gave it."""
    return _act(
        request,
        case_id,
        consent.record_consent,
        body.version,
        remedy_id,
        body.accepted,
        body.channel,
        actor_of(request),
        given_at=body.given_at,
    )


@router.post("/{case_id}/remedies/{remedy_id}/grant", auth=WRITE, response=CaseDetail)
def grant_remedy(
    request: HttpRequest, case_id: int, remedy_id: int, body: VersionIn
) -> dict[str, Any]:
    """Only a remedy the customer accepted can be granted."""
    return _act(request, case_id, remedies.grant_remedy, body.version, remedy_id, actor_of(request))


@router.post("/{case_id}/remedies/{remedy_id}/withdraw", auth=WRITE, response=CaseDetail)
def withdraw_remedy(
    request: HttpRequest, case_id: int, remedy_id: int, body: WithdrawIn
) -> dict[str, Any]:
    return _act(
        request,
        case_id,
        remedies.withdraw_remedy,
        body.version,
        remedy_id,
        body.reason,
        actor_of(request),
    )


@router.post("/{case_id}/promises", auth=WRITE, response=CaseDetail)
def make_promise(request: HttpRequest, case_id: int, body: PromiseIn) -> dict[str, Any]:
    return _act(
        request,
        case_id,
        promises.make_promise,
        body.version,
        body.text,
        body.due_at,
        actor_of(request),
    )


@router.post("/{case_id}/promises/{promise_id}/settle", auth=WRITE, response=CaseDetail)
def settle_promise(
    request: HttpRequest, case_id: int, promise_id: int, body: SettleIn
) -> dict[str, Any]:
    return _act(
        request,
        case_id,
        promises.settle_promise,
        body.version,
        promise_id,
        body.kept,
        actor_of(request),
    )


@router.post("/{case_id}/resolve", auth=WRITE, response=CaseDetail)
def resolve(request: HttpRequest, case_id: int, body: ResolveIn) -> dict[str, Any]:
    """Record the cause (price, inconvenience, core_failure, service_encounter, response_failure,
    competition, ethics, involuntary), what fixed it, and whether it is reusable."""
    return _act(
        request,
        case_id,
        lifecycle.resolve,
        body.version,
        actor_of(request),
        cause=body.cause,
        fix=body.fix,
        sub_cause=body.sub_cause,
        reusable=body.reusable,
        message=body.message,
    )


@router.post("/{case_id}/close", auth=WRITE, response=CaseDetail)
def close(request: HttpRequest, case_id: int, body: CloseIn) -> dict[str, Any]:
    """basis: confirmed (with confirmation_channel), recovery_survey, or no_reply (after N days)."""
    return _act(
        request,
        case_id,
        lifecycle.close,
        body.version,
        body.basis,
        actor_of(request),
        confirmation_channel=body.confirmation_channel,
        note=body.note,
    )


@router.post("/{case_id}/reopen", auth=WRITE, response=CaseDetail)
def reopen(request: HttpRequest, case_id: int, body: ReopenIn) -> dict[str, Any]:
    return _act(request, case_id, lifecycle.reopen, body.version, body.reason, actor_of(request))
