"""Customers, their identities in other systems, consent and typed attributes."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rapport.org.models import OrgUnit


class SourceSystem(models.Model):
    """A system records come from (dms, crm, insurance, finance, claims, loyalty, web, ...)."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name = _("source system")
        verbose_name_plural = _("source systems")

    def __str__(self) -> str:
        return self.code


class AttributeDefinition(models.Model):
    """A registry of customer attributes, so that analytics know each one's type."""

    class Type(models.TextChoices):
        STRING = "string", _("Text")
        INTEGER = "integer", _("Whole number")
        DECIMAL = "decimal", _("Decimal number")
        BOOLEAN = "boolean", _("Yes/no")
        DATE = "date", _("Date")

    name = models.SlugField(_("name"), max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=200, blank=True)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.STRING)

    class Meta:
        ordering = ["name"]
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")

    def __str__(self) -> str:
        return self.name


# A customer attribute that states when the relationship began, as the source system knew it
# (e.g. the first purchase in a system older than Rapport's history): a date, YYYY-MM-DD.
SINCE_ATTRIBUTE = "customer_since"


def relationship_start(
    created_at: dt.datetime | None, first_touchpoint: dt.datetime | None, stated: Any = None
) -> dt.date | None:
    """The earliest known start of a customer relationship, as a local date: the first
    touchpoint, a stated customer-since date, or when Rapport first saw the customer (an import
    creates customers with today's date, so this is only the last resort). A stated value that
    is not a date is ignored rather than shown."""
    found = [timezone.localdate(t) for t in (created_at, first_touchpoint) if t is not None]
    if isinstance(stated, dt.datetime):
        found.append(timezone.localdate(stated) if timezone.is_aware(stated) else stated.date())
    elif isinstance(stated, dt.date):
        found.append(stated)
    elif isinstance(stated, str) and stated.strip():
        with contextlib.suppress(ValueError):
            found.append(dt.date.fromisoformat(stated.strip()[:10]))
    return min(found) if found else None


class Customer(models.Model):
    class Language(models.TextChoices):
        EN = "en", "English"
        ZH_HANT = "zh-hant", "繁體中文"
        ZH_HANS = "zh-hans", "简体中文"

    display_name = models.CharField(_("name"), max_length=200, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=Language.choices, default=Language.EN
    )
    email = models.CharField(_("email"), max_length=254, blank=True, default="", db_index=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, default="", db_index=True)
    home_unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("home unit"),
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [models.Index(fields=["home_unit", "display_name"])]

    def __str__(self) -> str:
        return self.display_name or f"#{self.pk}"

    @property
    def since(self) -> dt.date | None:
        """ "Customer since": the earliest known start (relationship_start). Reads the first
        touchpoint from a `first_touchpoint_at` annotation when the query made one
        (customers.views.with_first_touchpoint), else with one query."""
        first = getattr(self, "first_touchpoint_at", _NOT_READ)
        if first is _NOT_READ:
            first = (
                self.touchpoints.order_by("occurred_at")
                .values_list("occurred_at", flat=True)
                .first()
            )
        return relationship_start(
            self.created_at, first, (self.attributes or {}).get(SINCE_ATTRIBUTE)
        )

    def may_contact(self, channel: str, purpose: str) -> bool:
        """Whether the customer may be contacted; an explicit opt-out always wins."""
        from rapport.customers.consent import may_contact

        records = {(c.channel, c.purpose): c.granted for c in self.consents.all()}
        return may_contact(records, channel, purpose)


_NOT_READ = object()


class Consent(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        PHONE = "phone", _("Phone")
        MAIL = "mail", _("Post")

    class Purpose(models.TextChoices):
        SURVEY = "survey", _("Surveys")
        SERVICE = "service", _("Service messages")
        MARKETING = "marketing", _("Marketing")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=64, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose"], name="consent_unique"
            )
        ]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        state = "yes" if self.granted else "no"
        return f"{self.customer_id} {self.channel}/{self.purpose}: {state}"


class CustomerIdentity(models.Model):
    """(source system, external id) → customer. Unique, so a record resolves to one customer."""

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="identities")
    external_id = models.CharField(_("external id"), max_length=200)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="identity_unique")
        ]
        verbose_name = _("customer identity")
        verbose_name_plural = _("customer identities")

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"


class IdentityReview(models.Model):
    """A record whose customer could not be told for sure: a person decides."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")
        DISMISSED = "dismissed", _("Dismissed")

    source = models.ForeignKey(SourceSystem, on_delete=models.PROTECT)
    external_id = models.CharField(max_length=200)
    record = models.JSONField(default=dict)
    candidates = models.ManyToManyField(Customer, related_name="identity_reviews")
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    resolved_customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"review {self.source_id}:{self.external_id}"


class Merge(models.Model):
    """An audited merge of one customer into another, with what moved so that it can be undone."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_in")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_out")
    moved = models.JSONField(default=dict)  # {"touchpoints": [ids], "identities": [ids], ...}
    previous = models.JSONField(default=dict)  # survivor fields before the merge
    reason = models.CharField(max_length=300, blank=True)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    performed_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-performed_at"]

    def __str__(self) -> str:
        return f"merge {self.merged_id} → {self.survivor_id}"
