"""Writing a case: the row lock, the versioned save, the audit trail every change leaves, and
the payload of the case.* events. Every operation of the package goes through here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from rapport.cases import clocks
from rapport.cases.actions import Actor, CaseError, Conflict
from rapport.cases.models import Case, CaseEvent
from rapport.org.models import OrgUnit, Staff

# Clock bookkeeping: recorded by the SLA events ("sla_warning", "sla_breach"), not field by field.
UNAUDITED = frozenset(
    f"{t}_{k}" for t in clocks.TARGETS for k in ("due_at", "warn_at", "warned_at", "breached_at")
) | {"sla_next_at"}


def record_event(case: Case, actor: Actor, kind: str, now: dt.datetime, **fields: Any) -> CaseEvent:
    """One row of the audit trail (changes of fields are written by save_changes)."""
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


def lock_case(case_id: int, expected_version: int | None) -> Case:
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


def save_changes(
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
            record_event(
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


def local_time(moment: dt.datetime | None, unit: OrgUnit) -> str:
    """A time as the unit's people read it, for notes and messages."""
    return moment.astimezone(unit.tz).strftime("%Y-%m-%d %H:%M") if moment else ""
