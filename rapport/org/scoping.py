"""Who sees what. Unit managers and agents see only their unit's subtree, in every query
behind the UI and the API; admins, CX managers and analysts see everything.

A customer belongs to the subtree when their home unit is in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db.models import Model, QuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

M = TypeVar("M", bound=Model)


def unit_path(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """The path prefix the user is limited to, "" for everything, None for nothing at all."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return ""
    staff = getattr(user, "staff", None)
    if staff is None or not staff.active:
        return None
    if staff.sees_whole_enterprise:
        return ""
    return staff.unit.path


def scope(
    qs: QuerySet[M], user: AbstractBaseUser | AnonymousUser | None, unit_field: str
) -> QuerySet[M]:
    """Limit a queryset to the user's subtree; `unit_field` is the path to an OrgUnit."""
    prefix = unit_path(user)
    if prefix is None:
        return qs.none()
    if prefix == "":
        return qs
    return qs.filter(**{f"{unit_field}__path__startswith": prefix})
