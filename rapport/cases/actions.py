"""Case operations, each with one home that the API, the UI, the rules and the jobs call.

Concurrency: every mutating operation runs in one transaction, locks the case row
(SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transaction locks the database) and
checks `expected_version` — the version the caller last saw. A stale version raises Conflict and
changes nothing; the save itself is a conditional UPDATE ... WHERE version = n, so even a path
that skipped the lock could not overwrite. `expected_version=None` is for the system (rules,
jobs), which works on the latest version. Every changed field is written to the audit trail.

Periodic work (SLA warnings and breaches, approval escalation, broken promises) claims each
step with a conditional UPDATE on a per-case (or per-request) field in the same transaction as
its consequences: a worker that dies mid-way leaves it unclaimed (no lost escalation), a second
worker finds it claimed (no doubled one).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import business_time, clocks, messages, priority, states
from rapport.cases.models import (
    CHURN_CAUSES,
    ApprovalRequest,
    AuthorityLimit,
    BusinessCalendar,
    Case,
    CaseEvent,
    CaseSettings,
    Promise,
    Remedy,
    SlaPolicy,
    Transfer,
)
from rapport.cases.rules import Signal
from rapport.core.events import emit
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit, Staff

log = logging.getLogger(__name__)

ACCEPT_SALT = "rapport.cases.remedy-accept"
ACCEPT_MAX_AGE = 60 * 60 * 24 * 30  # an offer link works for 30 days
CONSENT_CHANNELS = ("phone", "email", "in_person", "sms", "chat", "letter", "link")


class CaseError(ValueError):
    """An operation that cannot be done; the message is for the user."""


class Conflict(CaseError):
    """Someone else changed the case since the caller read it."""

    def __init__(self, case_id: int, expected: int, current: int) -> None:
        self.case_id, self.expected, self.current = case_id, expected, current
        super().__init__(
            _(
                "The case was changed by someone else (you had version %(expected)d, it is now "
                "version %(current)d). Reload it and apply your change again; nothing was saved."
            )
            % {"expected": expected, "current": current}
        )


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member, or the system/an integration named by a label."""

    staff: Staff | None = None
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, label)

    @property
    def name(self) -> str:
        return self.label or (self.staff.code if self.staff else "system")


SYSTEM = Actor.system()
# Clock bookkeeping: recorded by the SLA events ("sla_warning", "sla_breach"), not field by field.
UNAUDITED = frozenset(
    f"{t}_{k}" for t in clocks.TARGETS for k in ("due_at", "warn_at", "warned_at", "breached_at")
) | {"sla_next_at"}


# --- reading helpers ----------------------------------------------------------------------


def calendar_for(unit: OrgUnit) -> business_time.Calendar:
    """The unit's calendar: its own, else the nearest ancestor's, else the default row, else
    Monday–Friday 09:00–18:00 without holidays; always in the unit's time zone."""
    chain = [unit.pk] + [u.pk for u in reversed(unit.ancestors())]
    rows = {
        c.unit_id: c
        for c in BusinessCalendar.objects.filter(Q(unit_id__in=chain) | Q(unit__isnull=True))
    }
    row = next((rows[pk] for pk in chain if pk in rows), rows.get(None))
    if row is None:
        return business_time.Calendar.build(unit.time_zone)
    try:
        return business_time.Calendar.build(
            unit.time_zone,
            row.hours,
            row.holiday_country,
            row.holiday_subdivision,
            row.closed_dates,
        )
    except business_time.CalendarError:
        log.exception("calendar %s is broken; using the default hours", row.pk)
        return business_time.Calendar.build(unit.time_zone)


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


def sla_minutes(prio: str) -> dict[str, int]:
    from rapport.cases.defaults import SLA_DEFAULTS

    row = SlaPolicy.objects.filter(priority=prio).first()
    if row is not None:
        return {
            "ack": row.acknowledge_minutes,
            "response": row.first_response_minutes,
            "resolve": row.resolve_minutes,
        }
    ack, first, resolve = SLA_DEFAULTS[prio]
    return {"ack": ack, "response": first, "resolve": resolve}


def _case_fields(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in clocks.CLOCK_FIELDS}


def clock_status(case: Case, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    return clocks.status(_case_fields(case), now or timezone.now(), case.paused_at is not None)


# --- the audit trail and the versioned save ------------------------------------------------


def _event(case: Case, actor: Actor, kind: str, now: dt.datetime, **fields: Any) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, at=now, actor=actor.staff, actor_label=actor.name, kind=kind, **fields
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Staff | OrgUnit):
        return f"{value.pk}:{value}"
    return str(value)


def _lock(case_id: int, expected_version: int | None) -> Case:
    """The case, locked for this transaction; Conflict when its version moved on."""
    case = (
        Case.objects.select_for_update()
        .select_related("customer", "owner", "unit")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise CaseError(_("No such case."))
    if expected_version is not None and case.version != expected_version:
        raise Conflict(case.pk, expected_version, case.version)
    return case


def _save(
    case: Case,
    changes: Mapping[str, Any],
    actor: Actor,
    now: dt.datetime,
    note: str = "",
    kind: str = "changed",
) -> Case:
    """Apply `changes` with version + 1 under WHERE version = current, and audit each change."""
    old_version = case.version
    columns = {}
    for name, value in changes.items():
        key = f"{name}_id" if name in {"owner", "unit"} else name
        columns[key] = value.pk if isinstance(value, Staff | OrgUnit) else value
    updated = Case.objects.filter(pk=case.pk, version=old_version).update(
        version=old_version + 1, updated_at=now, **columns
    )
    if updated != 1:
        current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
        raise Conflict(case.pk, old_version, current or 0)
    for name, value in changes.items():
        before = getattr(case, name)
        if _text(before) != _text(value) and name not in UNAUDITED:
            _event(
                case, actor, kind, now, field=name, old=_text(before), new=_text(value), note=note
            )
        setattr(case, name, value)
    case.version = old_version + 1
    return case


def payload(case: Case) -> dict[str, Any]:
    """The webhook payload of the case.* events."""
    return {
        "case_id": case.pk,
        "ref": case.ref,
        "customer_id": case.customer_id,
        "unit_id": case.unit_id,
        "owner_id": case.owner_id,
        "state": case.state,
        "topic": case.topic,
        "source": case.source,
        "severity": case.severity,
        "priority": case.priority,
        "response_id": case.response_id,
        "touchpoint_id": case.touchpoint_id,
        "cause": case.cause or None,
        "version": case.version,
    }


# --- ownership ---------------------------------------------------------------------------


def pick_owner(unit: OrgUnit, staff_id: int | None = None, load_limit: int | None = None) -> Staff:
    """One owner from the start: the staff of the triggering touchpoint/response when active;
    else round-robin among the unit's agents under the load limit (fewest open cases, then the
    one assigned longest ago); else the nearest manager up the tree; else an enterprise manager."""
    if staff_id:
        staff = Staff.objects.filter(pk=staff_id, active=True).first()
        if staff is not None:
            return staff
    limit = load_limit if load_limit is not None else CaseSettings.current().owner_load_limit
    agents = (
        Staff.objects.filter(unit=unit, active=True, role=Staff.Role.AGENT)
        .annotate(
            load=Count("owned_cases", filter=~Q(owned_cases__state=states.CLOSED)),
            last=Max("owned_cases__assigned_at"),
        )
        .filter(load__lt=limit)
        .order_by("load", F("last").asc(nulls_first=True), "pk")
    )
    agent = agents.first()
    if agent is not None:
        return agent
    for candidate in approver_chain(unit):
        return candidate
    raise CaseError(_("Nobody can own a case in %(unit)s: add staff to it.") % {"unit": unit})


def approver_chain(unit: OrgUnit) -> list[Staff]:
    """The managers above work in `unit`, nearest first: the unit managers of the unit and of
    each ancestor, then the enterprise's CX managers and administrators."""
    path_units = [unit] + list(reversed(unit.ancestors()))
    managers = Staff.objects.filter(
        unit__in=path_units, role=Staff.Role.UNIT_MANAGER, active=True
    ).order_by("pk")
    by_unit: dict[int, list[Staff]] = {}
    for m in managers:
        by_unit.setdefault(m.unit_id, []).append(m)
    chain = [m for u in path_units for m in by_unit.get(u.pk, [])]
    top = Staff.objects.filter(
        role__in=[Staff.Role.CX_MANAGER, Staff.Role.ADMIN], active=True
    ).order_by("role", "pk")  # admin < cx_manager alphabetically: CX managers last
    chain += sorted(top, key=lambda s: (s.role != Staff.Role.CX_MANAGER, s.pk))
    return chain


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


# --- opening ------------------------------------------------------------------------------


def open_or_attach(
    signal: Signal, actor: Actor = SYSTEM, now: dt.datetime | None = None
) -> tuple[Case, bool]:
    """The open case of the signal's customer and topic with the signal attached, or a new case
    for it: (case, created). The one entry point of every source (rules, [voice], email, API, UI).

    One transaction. Race-safe: the partial unique index on (customer, topic) of open cases
    lets only one insert win; the loser attaches to the winner's case.
    """
    now = now or timezone.now()
    customer = Customer.objects.filter(pk=signal.customer_id).select_related("home_unit").first()
    if customer is None:
        raise CaseError(_("No such customer: %(id)s.") % {"id": signal.customer_id})
    while customer.merged_into_id:  # a merged customer's cases go to the survivor
        customer = Customer.objects.select_related("home_unit").get(pk=customer.merged_into_id)
    if signal.severity not in priority.SEVERITIES:
        raise CaseError(_("Unknown severity %(s)r.") % {"s": signal.severity})
    with transaction.atomic():
        existing = _open_case(customer.pk, signal.topic)
        if existing is not None:
            return _attach(existing, signal, actor, now), False
        try:
            with transaction.atomic():
                return _create(customer, signal, actor, now), True
        except IntegrityError:
            existing = _open_case(customer.pk, signal.topic)
            if existing is None:
                raise
            return _attach(existing, signal, actor, now), False


def _open_case(customer_id: int, topic: str) -> Case | None:
    return (
        Case.objects.select_for_update()
        .select_related("customer", "owner", "unit")
        .filter(customer_id=customer_id, topic=topic)
        .exclude(state=states.CLOSED)
        .first()
    )


def _create(customer: Customer, signal: Signal, actor: Actor, now: dt.datetime) -> Case:
    config = CaseSettings.current()
    unit = (
        (OrgUnit.objects.filter(pk=signal.unit_id).first() if signal.unit_id else None)
        or customer.home_unit
        or OrgUnit.enterprise()
    )
    if unit is None:
        raise CaseError(_("There is no organisation unit to handle the case."))
    owner = pick_owner(unit, signal.staff_id, config.owner_load_limit)
    from rapport.insights.jobs import value_tier_for

    tier = priority.value_tier(customer.attributes, value_tier_for(customer.pk))
    prio = priority.priority_for(signal.severity, tier)
    language = signal.language or customer.preferred_language or "en"
    case = Case(
        customer=customer,
        topic=signal.topic,
        subject=(signal.subject or _("Case for %(c)s") % {"c": customer})[:300],
        description=signal.description,
        source=signal.source,
        response_id=signal.response_id,
        touchpoint_id=signal.touchpoint_id,
        rule_id=signal.rule_id,
        severity=signal.severity,
        value_tier=tier,
        priority=prio,
        unit=unit,
        owner=owner,
        language=language if language in dict(Customer.Language.choices) else "en",
        opened_at=now,
        assigned_at=now,
    )
    fields = clocks.armed(now, sla_minutes(prio), config.warn_percent, calendar_for(unit))
    for name, value in fields.items():
        setattr(case, name, value)
    case.sla_next_at = clocks.next_check(_case_fields(case), paused=False)
    case.save()
    _event(
        case,
        actor,
        "opened",
        now,
        new=f"{case.source}:{case.topic}",
        note=_("Opened for %(customer)s, owner %(owner)s, priority %(p)s.")
        % {"customer": customer, "owner": owner, "p": prio},
    )
    emit("case.opened", [payload(case)])
    if config.send_acknowledgement:
        messages.queue(case, "acknowledgement", {"by": _local(case.ack_due_at, unit)}, None, now)
    return case


def _local(moment: dt.datetime | None, unit: OrgUnit) -> str:
    return moment.astimezone(unit.tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def _attach(case: Case, signal: Signal, actor: Actor, now: dt.datetime) -> Case:
    changes: dict[str, Any] = {"signal_count": case.signal_count + 1}
    order = list(priority.SEVERITIES)
    if order.index(signal.severity) > order.index(case.severity):
        changes["severity"] = signal.severity
        changes["priority"] = priority.priority_for(signal.severity, case.value_tier)
    refs = ", ".join(
        f"{name} {value}"
        for name, value in (("response", signal.response_id), ("touchpoint", signal.touchpoint_id))
        if value
    )
    _event(
        case,
        actor,
        "attached",
        now,
        new=f"{signal.source}:{refs}" if refs else signal.source,
        note=(signal.subject + ("\n" + signal.description if signal.description else ""))[:2000],
    )
    return _save(case, changes, actor, now)


def create_case(
    customer: Customer,
    subject: str,
    actor: Actor,
    *,
    topic: str = "experience",
    description: str = "",
    remedy_wanted: str = "",
    severity: str = "medium",
    source: str = Case.Source.MANUAL,
    unit: OrgUnit | None = None,
    owner: Staff | None = None,
    touchpoint_id: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[Case, bool]:
    """A case opened by hand (walk-in, hotline) or by API; attaches like any other signal.
    The owner defaults to the person opening it (one-stop: who takes the call keeps it)."""
    if not subject.strip():
        raise CaseError(_("A case needs a subject."))
    owner = owner or actor.staff
    signal = Signal(
        customer_id=customer.pk,
        source=source,
        topic=topic,
        severity=severity,
        subject=subject.strip(),
        description=description,
        unit_id=(unit.pk if unit else (owner.unit_id if owner else None)),
        staff_id=owner.pk if owner else None,
        touchpoint_id=touchpoint_id,
    )
    with transaction.atomic():
        case, created = open_or_attach(signal, actor, now)
        if created and remedy_wanted:
            Case.objects.filter(pk=case.pk).update(remedy_wanted=remedy_wanted)
            case.remedy_wanted = remedy_wanted
    return case, created


# --- moving through the states --------------------------------------------------------------


def _unpause(case: Case, now: dt.datetime) -> dict[str, Any]:
    """The clock fields after a wait for the customer ends."""
    if case.paused_at is None:
        return {}
    moved, minutes = clocks.shifted(
        _case_fields(case), case.paused_at, now, calendar_for(case.unit)
    )
    fields = {**_case_fields(case), **moved}
    return {
        **moved,
        "paused_at": None,
        "paused_minutes": case.paused_minutes + minutes,
        "sla_next_at": clocks.next_check(fields, paused=False),
    }


def _state_change(case: Case, target: str, now: dt.datetime) -> dict[str, Any]:
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
        case = _lock(case_id, expected_version)
        changes = _state_change(case, states.ACKNOWLEDGED, now)
        changes["acknowledged_at"] = now
        return _save(case, _with_next_check(case, changes), actor, now)


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
        case = _lock(case_id, expected_version)
        if case.state == states.AWAITING_APPROVAL:
            raise CaseError(
                _("The case waits for an approval; it moves on when the approver decides.")
            )
        changes = _state_change(case, target, now)
        return _save(case, changes, actor, now, note=note)


def _with_next_check(case: Case, changes: dict[str, Any]) -> dict[str, Any]:
    fields = {
        **_case_fields(case),
        **{k: v for k, v in changes.items() if k in clocks.CLOCK_FIELDS},
    }
    paused = changes.get("paused_at", case.paused_at) is not None
    return {**changes, "sla_next_at": clocks.next_check(fields, paused)}


def transfer(
    case_id: int,
    expected_version: int | None,
    to_staff: Staff,
    reason: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Case:
    """Give the case to another owner, with a reason; recorded and counted as a cost (R7).
    The case moves to the new owner's unit. Locks the case."""
    now = now or timezone.now()
    if not reason.strip():
        raise CaseError(_("A transfer needs a reason."))
    if not to_staff.active:
        raise CaseError(_("%(who)s is not active.") % {"who": to_staff})
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        if not case.is_open:
            raise CaseError(_("A closed case cannot be transferred; reopen it first."))
        if case.owner_id == to_staff.pk:
            raise CaseError(_("%(who)s already owns the case.") % {"who": to_staff})
        Transfer.objects.create(
            case=case,
            at=now,
            from_staff=case.owner,
            to_staff=to_staff,
            from_unit=case.unit,
            to_unit=to_staff.unit,
            reason=reason.strip(),
            by=actor.staff,
        )
        changes = {
            "owner": to_staff,
            "unit": to_staff.unit,
            "assigned_at": now,
            "transfer_count": case.transfer_count + 1,
        }
        return _save(case, changes, actor, now, note=reason.strip(), kind="transfer")


def add_note(
    case_id: int,
    expected_version: int | None,
    text: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Case:
    """An internal note on the case (not sent). Locks the case."""
    now = now or timezone.now()
    if not text.strip():
        raise CaseError(_("The note is empty."))
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        _event(case, actor, "note", now, note=text.strip())
        return _save(case, {}, actor, now)


def reply(
    case_id: int,
    expected_version: int | None,
    actor: Actor,
    *,
    body: str = "",
    what: str = "",
    by: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """A message to the customer: an update (`body`), or "let me check `what` — I will come back
    by `by`" (pledge 2), which also becomes a promise with that date. The first one stops the
    first-response clock. Locks the case; the email goes out after commit."""
    now = now or timezone.now()
    if not body.strip() and not what.strip():
        raise CaseError(_("Write the message, or what you will check."))
    if what.strip() and by is None:
        raise CaseError(_("Say by when you will come back to the customer."))
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        if not case.is_open:
            raise CaseError(_("The case is closed; reopen it to write to the customer."))
        author = actor.staff or case.owner
        if what.strip():
            assert by is not None
            context = {"what": what.strip(), "by": _local(by, case.unit)}
            message = messages.queue(case, "checking", context, author, now)
            Promise.objects.create(
                case=case,
                text=_("Check %(what)s and come back") % {"what": what.strip()},
                due_at=by,
                made_by=author,
                made_at=now,
            )
            _event(case, actor, "promise", now, new=_local(by, case.unit), note=what.strip())
        else:
            message = messages.queue(case, "update", {"body": body.strip()}, author, now)
        _event(case, actor, "message", now, new=message.status, note=message.subject)
        changes: dict[str, Any] = {}
        if case.first_response_at is None:
            changes["first_response_at"] = now
        return _save(case, _with_next_check(case, changes) if changes else {}, actor, now)


# --- remedies and approvals ---------------------------------------------------------------


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
        case = _lock(case_id, expected_version)
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
        _event(
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
            _remedy_status(
                remedy, states.APPROVED, case, actor, now, approved_by=proposer, decided_at=now
            )
            return remedy
        approver = _next_approver(case.unit, {proposer.pk}, amount, currency)
        if approver is None:
            raise CaseError(_("Nobody above you can approve this remedy; ask an administrator."))
        _remedy_status(remedy, states.REMEDY_AWAITING_APPROVAL, case, actor, now)
        request = _request_approval(remedy, case, approver, 1, actor, now)
        changes = _state_change(case, states.AWAITING_APPROVAL, now)
        _save(
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


def _remedy_status(
    remedy: Remedy, target: str, case: Case, actor: Actor, now: dt.datetime, **fields: Any
) -> None:
    states.check_remedy_transition(remedy.status, target)
    updated = Remedy.objects.filter(pk=remedy.pk, status=remedy.status).update(
        status=target, **fields
    )
    if updated != 1:
        raise CaseError(_("The remedy was changed meanwhile; reload the case."))
    _event(
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
    _event(
        case,
        actor,
        "approval",
        now,
        field="approver",
        new=f"{approver.pk}:{approver}",
        note=_("Approval requested (level %(level)d), due %(due)s.")
        % {"level": level, "due": _local(due, approver.unit)},
    )
    messages.notify_staff(
        approver,
        _("Approval needed: %(ref)s") % {"ref": case.ref},
        _("%(remedy)s on case %(ref)s needs your approval by %(due)s.")
        % {"remedy": remedy, "ref": case.ref, "due": _local(due, approver.unit)},
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
        case = _lock(request.remedy.case_id, None)
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
            _remedy_status(
                remedy,
                states.APPROVED,
                case,
                actor,
                now,
                approved_by=staff or request.approver,
                decided_at=now,
            )
        else:
            _remedy_status(remedy, states.REFUSED, case, actor, now, decided_at=now)
        _event(case, actor, "approval", now, field="decision", new=decision, note=reason.strip())
        pending = ApprovalRequest.objects.filter(
            remedy__case=case, decision=ApprovalRequest.Decision.PENDING
        ).exists()
        if case.state == states.AWAITING_APPROVAL and not pending:
            _save(
                case, _state_change(case, states.IN_PROGRESS, now), actor, now, note=reason.strip()
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
            case = _lock(request.remedy.case_id, None)
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
                    _event(
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
            _event(
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


def _locked_remedy(case: Case, remedy_id: int) -> Remedy:
    remedy = Remedy.objects.filter(pk=remedy_id, case=case).first()
    if remedy is None:
        raise CaseError(_("No such remedy on this case."))
    return remedy


def offer_remedy(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Remedy:
    """Offer an approved remedy to the customer: a message with a link to accept it. The
    customer decides (compensation is offered, not imposed). Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        remedy = _locked_remedy(case, remedy_id)
        _remedy_status(remedy, states.OFFERED, case, actor, now, offered_at=now)
        url = f"{settings.SITE_URL}/cases/accept/{accept_token(remedy)}"
        messages.queue(
            case, "remedy_offer", {"remedy": str(remedy), "accept_url": url}, actor.staff, now
        )
        _save(case, {}, actor, now)
        return remedy


def accept_token(remedy: Remedy) -> str:
    """The signed token of the accept link in an offer (valid ACCEPT_MAX_AGE)."""
    return signing.dumps({"r": remedy.pk, "c": remedy.case_id}, salt=ACCEPT_SALT, compress=True)


def record_consent(
    case_id: int,
    expected_version: int | None,
    remedy_id: int,
    accepted: bool,
    channel: str,
    actor: Actor,
    *,
    given_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Remedy:
    """The customer's answer to an offer, with the channel and time they gave it. Locks the case."""
    now = now or timezone.now()
    if channel not in CONSENT_CHANNELS:
        raise CaseError(
            _("Say how the customer answered: %(c)s.") % {"c": ", ".join(CONSENT_CHANNELS)}
        )
    if given_at is not None and given_at > now + dt.timedelta(minutes=5):
        raise CaseError(_("The customer's answer cannot be in the future."))
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        remedy = _locked_remedy(case, remedy_id)
        _remedy_status(
            remedy,
            states.ACCEPTED if accepted else states.DECLINED,
            case,
            actor,
            now,
            consent_channel=channel,
            consent_at=given_at or now,
            consent_recorded_by=actor.staff,
        )
        _save(case, {}, actor, now)
        return remedy


def remedy_for_link(token: str) -> Remedy | None:
    """The remedy an offer link is about, or None for a tampered, unknown or expired link."""
    try:
        data = signing.loads(token, salt=ACCEPT_SALT, max_age=ACCEPT_MAX_AGE)
    except signing.BadSignature:
        return None
    return Remedy.objects.filter(pk=data["r"], case_id=data["c"]).select_related("case").first()


def accept_by_link(token: str, accepted: bool = True, now: dt.datetime | None = None) -> Remedy:
    """The customer's own answer through the link of the offer."""
    try:
        data = signing.loads(token, salt=ACCEPT_SALT, max_age=ACCEPT_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise CaseError(_("This link has expired; please contact us.")) from exc
    except signing.BadSignature as exc:
        raise CaseError(_("This link is not valid.")) from exc
    return record_consent(
        data["c"], None, data["r"], accepted, "link", Actor.system("customer (link)"), now=now
    )


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
        case = _lock(case_id, expected_version)
        remedy = _locked_remedy(case, remedy_id)
        _remedy_status(
            remedy, states.GRANTED, case, actor, now, granted_at=now, granted_by=actor.staff
        )
        _save(case, {}, actor, now)
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
        case = _lock(case_id, expected_version)
        remedy = _locked_remedy(case, remedy_id)
        _remedy_status(remedy, states.WITHDRAWN, case, actor, now)
        ApprovalRequest.objects.filter(remedy=remedy, decision="pending").update(
            decision=ApprovalRequest.Decision.WITHDRAWN, decided_at=now, reason=reason
        )
        changes: dict[str, Any] = {}
        pending = ApprovalRequest.objects.filter(remedy__case=case, decision="pending").exists()
        if case.state == states.AWAITING_APPROVAL and not pending:
            changes = _state_change(case, states.IN_PROGRESS, now)
        _save(case, changes, actor, now, note=reason)
        return remedy


# --- promises ----------------------------------------------------------------------------


def make_promise(
    case_id: int,
    expected_version: int | None,
    text: str,
    due_at: dt.datetime,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Promise:
    """A promise to the customer with a date: a follow-up task, kept or broken. Locks the case."""
    now = now or timezone.now()
    if not text.strip():
        raise CaseError(_("Say what you promised."))
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        promise = Promise.objects.create(
            case=case,
            text=text.strip()[:500],
            due_at=due_at,
            made_by=actor.staff or case.owner,
            made_at=now,
        )
        _event(case, actor, "promise", now, new=_local(due_at, case.unit), note=promise.text)
        _save(case, {}, actor, now)
        return promise


def settle_promise(
    case_id: int,
    expected_version: int | None,
    promise_id: int,
    kept: bool,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Promise:
    """Mark an open promise kept or broken. Locks the case."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _lock(case_id, expected_version)
        state = Promise.State.KEPT if kept else Promise.State.BROKEN
        settled = Promise.objects.filter(pk=promise_id, case=case, state=Promise.State.OPEN).update(
            state=state, settled_at=now
        )
        if not settled:
            raise CaseError(_("No open promise with this id on the case."))
        _event(
            case,
            actor,
            "promise",
            now,
            field="promise",
            old=f"{promise_id}:open",
            new=f"{promise_id}:{state}",
        )
        _save(case, {}, actor, now)
        return Promise.objects.get(pk=promise_id)


def break_overdue_promises(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Open promises past their date count as broken (claimed by a conditional UPDATE)."""
    now = now or timezone.now()
    count = 0
    overdue = Promise.objects.filter(state=Promise.State.OPEN, due_at__lte=now).values_list(
        "pk", "case_id"
    )
    for promise_id, case_id in list(overdue[:limit]):
        with transaction.atomic():
            if Promise.objects.filter(pk=promise_id, state=Promise.State.OPEN).update(
                state=Promise.State.BROKEN, settled_at=now
            ):
                case = Case.objects.select_related("owner").get(pk=case_id)
                _event(
                    case,
                    SYSTEM,
                    "promise",
                    now,
                    field="promise",
                    old=f"{promise_id}:open",
                    new=f"{promise_id}:broken",
                    note=_("Not kept by its date."),
                )
                count += 1
    return count


# --- resolving, closing, reopening ----------------------------------------------------------


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
        case = _lock(case_id, expected_version)
        live = Remedy.objects.filter(
            case=case, status__in=[states.OFFERED, states.ACCEPTED]
        ).exists()
        if live:
            raise CaseError(
                _("A remedy is still offered or accepted but not granted; finish it first.")
            )
        changes = _state_change(case, states.RESOLVED, now)
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
            _event(case, actor, "message", now, new=sent.status, note=sent.subject)
        case = _save(
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
        case = _lock(case_id, expected_version)
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
        changes = _state_change(case, states.CLOSED, now)
        changes.update(closed_at=now, close_basis=basis, sla_next_at=None)
        label = f"{basis} ({confirmation_channel})" if confirmation_channel else basis
        case = _save(case, changes, actor, now, note=note or label)
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
                _event(
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
        case = _lock(case_id, expected_version)
        changes = _state_change(case, states.IN_PROGRESS, now)
        changes.update(
            resolved_at=None, closed_at=None, close_basis="", reopen_count=case.reopen_count + 1
        )
        try:
            with transaction.atomic():
                return _save(case, _with_next_check(case, changes), actor, now, note=reason.strip())
        except IntegrityError as exc:
            other = _open_case(case.customer_id, case.topic)
            raise CaseError(
                _("Case %(ref)s of this customer on the same topic is open; continue there.")
                % {"ref": other.ref if other else "?"}
            ) from exc


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
        _event(case, SYSTEM, "recovery", now, field="recovery_response", new=str(response_id))
        return case


# --- SLA sweep ------------------------------------------------------------------------------

SWEEP_SKIPS = (states.RESOLVED, states.CLOSED, states.AWAITING_CUSTOMER)


def sweep_sla(now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Warn before a breach and escalate a breach to the owner's manager, once each.

    Looks only at cases whose `sla_next_at` has come (an indexed column). Each warning and
    breach is claimed by setting its `*_warned_at` / `*_breached_at` with a conditional UPDATE
    (WHERE it is still NULL) in the transaction that records it: no lost and no doubled
    escalation across worker restarts and concurrent workers."""
    now = now or timezone.now()
    counts = {"warnings": 0, "breaches": 0}
    due = Case.objects.filter(sla_next_at__lte=now).exclude(state__in=SWEEP_SKIPS)
    for case_id in list(due.order_by("sla_next_at").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            case = _lock(case_id, None)
            if case.paused_at is not None or case.state in SWEEP_SKIPS:
                continue
            for target, what in clocks.due_actions(_case_fields(case), now):
                column = f"{target}_{'warned' if what == 'warn' else 'breached'}_at"
                if not Case.objects.filter(pk=case.pk, **{f"{column}__isnull": True}).update(
                    **{column: now}
                ):
                    continue
                setattr(case, column, now)
                if what == "warn":
                    _warn(case, target, now)
                    counts["warnings"] += 1
                else:
                    _breach(case, target, now)
                    counts["breaches"] += 1
            Case.objects.filter(pk=case.pk).update(
                sla_next_at=clocks.next_check(_case_fields(case), False)
            )
    return counts


def _warn(case: Case, target: str, now: dt.datetime) -> None:
    due = getattr(case, f"{target}_due_at")
    _event(
        case,
        SYSTEM,
        "sla_warning",
        now,
        field=target,
        new=_local(due, case.unit),
        note=_("The %(target)s target is due at %(due)s.")
        % {"target": clocks.LABELS[target], "due": _local(due, case.unit)},
    )
    messages.notify_staff(
        case.owner,
        _("Due soon: %(ref)s") % {"ref": case.ref},
        _("The %(target)s target of %(ref)s is due at %(due)s.")
        % {"target": clocks.LABELS[target], "ref": case.ref, "due": _local(due, case.unit)},
    )


def _breach(case: Case, target: str, now: dt.datetime) -> None:
    manager = next((s for s in approver_chain(case.unit) if s.pk != case.owner_id), None)
    _event(
        case,
        SYSTEM,
        "sla_breach",
        now,
        field=target,
        new=_local(getattr(case, f"{target}_due_at"), case.unit),
        note=_("The %(target)s target was missed.") % {"target": clocks.LABELS[target]},
    )
    emit("case.breached", [{**payload(case), "target": target}])
    if manager is not None:
        _event(
            case,
            SYSTEM,
            "escalated",
            now,
            field="manager",
            new=f"{manager.pk}:{manager}",
            note=_("Breach escalated to %(who)s.") % {"who": manager},
        )
        emit(
            "case.escalated",
            [{**payload(case), "reason": "sla_breach", "target": target, "manager_id": manager.pk}],
        )
        messages.notify_staff(
            manager,
            _("SLA breached: %(ref)s") % {"ref": case.ref},
            _("The %(target)s target of %(ref)s (owner %(owner)s) was missed.")
            % {"target": clocks.LABELS[target], "ref": case.ref, "owner": case.owner},
        )


# --- added for the case page (helper casesui) -------------------------------------------------


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
        case = _lock(case_id, expected_version)
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
        _event(case, actor, "recovery", now, new=invitation.status, note=invitation.suppressed_by)
        return _save(
            case, {"recovery_invitation": invitation, "recovery_response": None}, actor, now
        )
