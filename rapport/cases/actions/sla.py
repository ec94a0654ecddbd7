"""The SLA clocks of a case on business time: the unit's calendar, the targets per priority,
the clocks' status and next check, and the sweep that warns before a breach and escalates one."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import business_time, clocks, messages, states
from rapport.cases.actions import SYSTEM
from rapport.cases.actions.ownership import approver_chain
from rapport.cases.actions.record import local_time, lock_case, payload, record_event
from rapport.cases.models import BusinessCalendar, Case, SlaPolicy
from rapport.core.events import emit
from rapport.org.models import OrgUnit

log = logging.getLogger(__name__)


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


def clock_fields(case: Case) -> dict[str, Any]:
    """The clock columns of the case, as rapport.cases.clocks reads them."""
    return {name: getattr(case, name) for name in clocks.CLOCK_FIELDS}


def clock_status(case: Case, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    return clocks.status(clock_fields(case), now or timezone.now(), case.paused_at is not None)


def with_next_check(case: Case, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the `sla_next_at` they lead to (the sweep's indexed next look)."""
    fields = {
        **clock_fields(case),
        **{k: v for k, v in changes.items() if k in clocks.CLOCK_FIELDS},
    }
    paused = changes.get("paused_at", case.paused_at) is not None
    return {**changes, "sla_next_at": clocks.next_check(fields, paused)}


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
            case = lock_case(case_id, None)
            if case.paused_at is not None or case.state in SWEEP_SKIPS:
                continue
            for target, what in clocks.due_actions(clock_fields(case), now):
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
                sla_next_at=clocks.next_check(clock_fields(case), False)
            )
    return counts


def _warn(case: Case, target: str, now: dt.datetime) -> None:
    due = getattr(case, f"{target}_due_at")
    record_event(
        case,
        SYSTEM,
        "sla_warning",
        now,
        field=target,
        new=local_time(due, case.unit),
        note=_("The %(target)s target is due at %(due)s.")
        % {"target": clocks.LABELS[target], "due": local_time(due, case.unit)},
    )
    messages.notify_staff(
        case.owner,
        _("Due soon: %(ref)s") % {"ref": case.ref},
        _("The %(target)s target of %(ref)s is due at %(due)s.")
        % {"target": clocks.LABELS[target], "ref": case.ref, "due": local_time(due, case.unit)},
    )


def _breach(case: Case, target: str, now: dt.datetime) -> None:
    manager = next((s for s in approver_chain(case.unit) if s.pk != case.owner_id), None)
    record_event(
        case,
        SYSTEM,
        "sla_breach",
        now,
        field=target,
        new=local_time(getattr(case, f"{target}_due_at"), case.unit),
        note=_("The %(target)s target was missed.") % {"target": clocks.LABELS[target]},
    )
    emit("case.breached", [{**payload(case), "target": target}])
    if manager is not None:
        record_event(
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
