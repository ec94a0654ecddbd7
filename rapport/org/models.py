"""The organisation: a tree of units (enterprise → region → branch → team) and its staff."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value}) from exc


class OrgUnit(models.Model):
    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        REGION = "region", _("Region")
        BRANCH = "branch", _("Branch")
        TEAM = "team", _("Team")

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    # Materialised path of primary keys ("/1/4/9/"): a subtree is one indexed prefix scan.
    path = models.CharField(max_length=512, editable=False, db_index=True, default="")

    class Meta:
        ordering = ["path"]
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        parent_path = self.parent.path if self.parent_id else "/"
        if self.pk and f"/{self.pk}/" in parent_path:
            raise ValidationError(_("A unit cannot be moved under itself or its own subtree."))
        super().save(*args, **kwargs)
        old_path = self.path
        new_path = f"{parent_path}{self.pk}/"
        if new_path != old_path:
            OrgUnit.objects.filter(pk=self.pk).update(path=new_path)
            if old_path:
                for child in OrgUnit.objects.filter(path__startswith=old_path).exclude(pk=self.pk):
                    OrgUnit.objects.filter(pk=child.pk).update(
                        path=new_path + child.path[len(old_path) :]
                    )
            self.path = new_path

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)

    def subtree(self) -> models.QuerySet[OrgUnit]:
        return OrgUnit.objects.filter(path__startswith=self.path)

    def ancestors(self) -> list[OrgUnit]:
        """From the root down to the parent."""
        ids = [int(p) for p in self.path.strip("/").split("/")[:-1] if p]
        by_id = OrgUnit.objects.in_bulk(ids)
        return [by_id[i] for i in ids if i in by_id]

    @classmethod
    def enterprise(cls) -> OrgUnit | None:
        return cls.objects.filter(parent__isnull=True).order_by("pk").first()


class Staff(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        CX_MANAGER = "cx_manager", _("CX manager")
        UNIT_MANAGER = "unit_manager", _("Unit manager")
        AGENT = "agent", _("Front-line agent")
        ANALYST = "analyst", _("Analyst (read-only)")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="staff",
    )
    code = models.SlugField(_("code"), max_length=64, unique=True)
    display_name = models.CharField(_("name"), max_length=200)
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return self.display_name

    @property
    def sees_whole_enterprise(self) -> bool:
        return self.role in {self.Role.ADMIN, self.Role.CX_MANAGER, self.Role.ANALYST}
