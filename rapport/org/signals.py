"""Keep a staff member's login in step with their role."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db.models.signals import post_save
from django.dispatch import receiver

from rapport.org.models import Staff
from rapport.org.roles import ROLE_PERMISSIONS


@receiver(post_save, sender=Staff, dispatch_uid="rapport.org.staff_role_group")
def staff_role_group(sender: type[Staff], instance: Staff, **_: Any) -> None:
    user = instance.user
    if user is None:
        return
    role_groups = Group.objects.filter(name__in=ROLE_PERMISSIONS)
    user.groups.remove(*role_groups.exclude(name=instance.role))
    group, _created = Group.objects.get_or_create(name=instance.role)
    user.groups.add(group)
    is_admin = instance.role == Staff.Role.ADMIN
    if user.is_staff != is_admin or user.is_active != instance.active:
        user.is_staff = is_admin
        user.is_active = instance.active
        user.save(update_fields=["is_staff", "is_active"])
