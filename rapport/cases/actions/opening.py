"""Opening a case: every signal (rules, [voice], email, API, UI) opens one or attaches to the
customer's open case on the topic; a case opened by hand is a signal too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import clocks, messages, priority, states
from rapport.cases.actions import SYSTEM, Actor, CaseError
from rapport.cases.actions.ownership import pick_owner
from rapport.cases.actions.record import local_time, payload, record_event, save_changes
from rapport.cases.actions.sla import calendar_for, clock_fields, sla_minutes
from rapport.cases.models import Case, CaseSettings
from rapport.cases.rules import Signal
from rapport.core.events import emit
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit, Staff


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
        existing = open_case_of(customer.pk, signal.topic)
        if existing is not None:
            return _attach(existing, signal, actor, now), False
        try:
            with transaction.atomic():
                return _create(customer, signal, actor, now), True
        except IntegrityError:
            existing = open_case_of(customer.pk, signal.topic)
            if existing is None:
                raise
            return _attach(existing, signal, actor, now), False


def open_case_of(customer_id: int, topic: str) -> Case | None:
    """The customer's open case on the topic, locked; None when there is none."""
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
    case.sla_next_at = clocks.next_check(clock_fields(case), paused=False)
    case.save()
    record_event(
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
        messages.queue(
            case, "acknowledgement", {"by": local_time(case.ack_due_at, unit)}, None, now
        )
    return case


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
    record_event(
        case,
        actor,
        "attached",
        now,
        new=f"{signal.source}:{refs}" if refs else signal.source,
        note=(signal.subject + ("\n" + signal.description if signal.description else ""))[:2000],
    )
    return save_changes(case, changes, actor, now)


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
