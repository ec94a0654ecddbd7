"""Who owns a case: the owner picked from the start, the managers above a unit, and a transfer to
another owner."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.cases import states
from rapport.cases.actions import Actor, CaseError
from rapport.cases.actions.record import lock_case, save_changes
from rapport.cases.models import Case, CaseSettings, Transfer
from rapport.org.models import OrgUnit, Staff


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
        case = lock_case(case_id, expected_version)
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
        return save_changes(case, changes, actor, now, note=reason.strip(), kind="transfer")
