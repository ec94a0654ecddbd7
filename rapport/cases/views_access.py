"""Who is looking at the case pages: the viewer's staff record and actor, the cases and units
they see (rapport.org.scoping: another unit's case is a 404), and what their role lets them do."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from rapport.cases.actions import Actor
from rapport.cases.models import Case
from rapport.org.models import OrgUnit, Staff
from rapport.org.scoping import scope, unit_path

CONFIGURERS = {Staff.Role.ADMIN, Staff.Role.CX_MANAGER}


def viewer(request: HttpRequest) -> Staff | None:
    staff = getattr(request.user, "staff", None)
    return staff if staff is not None and staff.active else None


def actor_of(request: HttpRequest) -> Actor:
    staff = viewer(request)
    return Actor(staff=staff) if staff else Actor.system(f"user:{request.user.get_username()}")


def visible_cases(request: HttpRequest) -> QuerySet[Case]:
    return scope(Case.objects.all(), request.user, "unit")


def visible_units(request: HttpRequest) -> list[OrgUnit]:
    """The units of the viewer's subtree, in tree order (one small query)."""
    prefix = unit_path(request.user)
    if prefix is None:
        return []
    return list(OrgUnit.objects.filter(path__startswith=prefix).order_by("path"))


def subtree_ids(units: list[OrgUnit], root: OrgUnit) -> list[int]:
    return [u.pk for u in units if u.path.startswith(root.path)]


def can_configure(user: Any) -> bool:
    staff = getattr(user, "staff", None)
    return bool(
        user.is_superuser or (staff is not None and staff.active and staff.role in CONFIGURERS)
    )


def is_manager(request: HttpRequest) -> bool:
    staff = viewer(request)
    return request.user.is_superuser or (
        staff is not None
        and staff.role in {Staff.Role.UNIT_MANAGER, *CONFIGURERS, Staff.Role.ANALYST}
    )
