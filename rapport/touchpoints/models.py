"""Touchpoints: every contact between a customer and the company, from any system."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from rapport.customers.models import Customer, SourceSystem
from rapport.org.models import OrgUnit, Staff
from rapport.touchpoints.kinds import CHANNELS


class TouchpointKind(models.Model):
    """Kinds beyond the built-in ones (rapport.touchpoints.kinds.BUILTIN_KINDS)."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name = _("touchpoint kind")
        verbose_name_plural = _("touchpoint kinds")

    def __str__(self) -> str:
        return self.code


class Touchpoint(models.Model):
    # customer, source and unit get no index of their own: the composite indexes below start with
    # them and serve the same look-ups, and every index costs on each of millions of inserts.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="touchpoints", db_index=False
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    channel = models.CharField(
        _("channel"), max_length=16, choices=list(CHANNELS.items()), default="other"
    )
    kind = models.CharField(_("kind"), max_length=64)
    source = models.ForeignKey(
        SourceSystem, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    external_id = models.CharField(_("external id"), max_length=200)
    unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touchpoints",
        db_index=False,
    )
    staff = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="touchpoints"
    )
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    margin = models.DecimalField(
        _("margin"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="")
    context = models.JSONField(_("context"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name = _("touchpoint")
        verbose_name_plural = _("touchpoints")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="touchpoint_unique")
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="tp_customer_time"),
            models.Index(fields=["occurred_at"], name="tp_time"),
            models.Index(fields=["kind", "occurred_at"], name="tp_kind_time"),
            models.Index(fields=["unit", "occurred_at"], name="tp_unit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"
