"""Surveys as versioned definitions, invitations with single-use tokens, responses and answers.

A published version never changes (rapport.surveys.actions edits a draft, cloning the published
version first), and only published versions receive responses: so a response always keeps the
exact questions it answered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rapport.core.models import SingleRowSettings
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit, Staff
from rapport.surveys import questions as q
from rapport.touchpoints.models import Touchpoint


class Survey(models.Model):
    class Kind(models.TextChoices):
        ENGAGEMENT = "engagement", _("Engagement")
        NPS = "nps", _("Net Promoter Score")
        CSAT = "csat", _("Customer satisfaction (CSAT)")
        CES = "ces", _("Customer effort (CES)")
        CSI = "csi", _("Dealer service CSI")
        EMPLOYEE_PULSE = "employee_pulse", _("Employee pulse")
        CUSTOM = "custom", _("Custom")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CUSTOM)
    anonymous = models.BooleanField(
        _("anonymous"),
        default=False,
        help_text=_("Responses keep no customer or staff identity."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    archived = models.BooleanField(_("archived"), default=False)

    class Meta:
        ordering = ["archived", "-created_at", "-pk"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")

    def __str__(self) -> str:
        return self.name


class SurveyVersion(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.JSONField(_("title"), default=dict, blank=True)  # {language: text}
    intro = models.JSONField(_("introduction"), default=dict, blank=True)
    thank_you = models.JSONField(_("thank-you message"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["survey", "number"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "number"], name="survey_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.survey} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class Question(models.Model):
    version = models.ForeignKey(SurveyVersion, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(_("key"), max_length=64)
    type = models.CharField(
        pgettext_lazy("question", "type"), max_length=16, choices=list(q.QUESTION_TYPES.items())
    )
    texts = models.JSONField(_("texts"), default=dict)  # {language: text}
    required = models.BooleanField(pgettext_lazy("question", "required"), default=True)
    options = models.JSONField(default=list, blank=True)  # [{"value", "labels": {lang: text}}]
    scale_min = models.SmallIntegerField(null=True, blank=True)
    scale_max = models.SmallIntegerField(null=True, blank=True)
    low_labels = models.JSONField(default=dict, blank=True)
    high_labels = models.JSONField(default=dict, blank=True)
    condition = models.JSONField(null=True, blank=True)  # {"question", "op", "value"}
    page = models.PositiveSmallIntegerField(_("page"), default=1)
    order = models.PositiveIntegerField(default=0)
    role = models.CharField(max_length=64, blank=True, default="")  # what a score reads it as

    class Meta:
        ordering = ["version", "page", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="question_key_unique")
        ]

    def __str__(self) -> str:
        return self.key

    def spec(self) -> q.QuestionSpec:
        return q.QuestionSpec(
            key=self.key,
            type=self.type,
            texts=dict(self.texts or {}),
            required=self.required,
            options=q.options_from_list(self.options),
            scale_min=self.scale_min,
            scale_max=self.scale_max,
            low_labels=dict(self.low_labels or {}),
            high_labels=dict(self.high_labels or {}),
            condition=q.condition_from_dict(self.condition),
            page=self.page,
            order=self.order,
            role=self.role,
            id=self.pk,
        )


class Invitation(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        LINK = "link", _("Link")
        QR = "qr", _("QR code")
        WIDGET = "widget", _("Website widget")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        OPENED = "opened", _("Opened")
        STARTED = "started", _("Started")
        COMPLETED = "completed", _("Completed")
        EXPIRED = "expired", _("Expired")
        BOUNCED = "bounced", _("Bounced")
        SUPPRESSED = "suppressed", _("Suppressed")

    version = models.ForeignKey(SurveyVersion, on_delete=models.PROTECT, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    staff = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unit = models.ForeignKey(
        OrgUnit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SCHEDULED
    )
    suppressed_by = models.CharField(_("suppressed by"), max_length=300, blank=True, default="")
    language = models.CharField(_("language"), max_length=8, default=q.DEFAULT_LANGUAGE)
    created_at = models.DateTimeField(auto_now_add=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Distribution (rapport.surveys.distribution): why it exists, and the sending state.
    # No index of their own on rule and wave: every index costs on each of a wave's million
    # inserts, and nothing hot looks invitations up by them.
    rule = models.ForeignKey(
        "EventRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations",
        db_index=False,
    )
    wave = models.ForeignKey(
        "Wave",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations",
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    remind_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [
            models.Index(fields=["survey", "status"], name="inv_survey_status"),
            models.Index(fields=["customer", "created_at"], name="inv_customer_time"),
            models.Index(fields=["status", "scheduled_for"], name="inv_status_due"),
            # Partial: only rows waiting to be sent / reminded are in them.
            models.Index(
                fields=["next_attempt_at"],
                name="inv_next_attempt",
                condition=models.Q(status="scheduled", next_attempt_at__isnull=False),
            ),
            models.Index(
                fields=["remind_at"],
                name="inv_remind_at",
                condition=models.Q(remind_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.status})"


class Response(models.Model):
    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")

    class Tier(models.TextChoices):
        FULLY_ENGAGED = "fully_engaged", _("Fully engaged")
        ENGAGED = "engaged", _("Engaged")
        INDIFFERENT = "indifferent", _("Indifferent")
        ACTIVELY_DISENGAGED = "actively_disengaged", _("Actively disengaged")

    class NpsClass(models.TextChoices):
        PROMOTER = "promoter", _("Promoter")
        PASSIVE = "passive", _("Passive")
        DETRACTOR = "detractor", _("Detractor")

    invitation = models.OneToOneField(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="response"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    version = models.ForeignKey(SurveyVersion, on_delete=models.PROTECT, related_name="responses")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    language = models.CharField(max_length=8, default=q.DEFAULT_LANGUAGE)
    channel = models.CharField(max_length=8, choices=Invitation.Channel.choices)
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    staff = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unit = models.ForeignKey(
        OrgUnit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    current_page = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Derived scores, set on completion (rapport.surveys.scoring).
    nps_score = models.SmallIntegerField(null=True, blank=True)
    nps_class = models.CharField(max_length=10, choices=NpsClass.choices, blank=True, default="")
    csat = models.SmallIntegerField(null=True, blank=True)
    csat_top2 = models.BooleanField(null=True, blank=True)
    ces = models.SmallIntegerField(null=True, blank=True)
    loyalty = models.FloatField(null=True, blank=True)
    attachment = models.FloatField(null=True, blank=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, blank=True, default="")
    csi_index = models.FloatField(null=True, blank=True)
    csi_factors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        indexes = [
            models.Index(fields=["survey", "state", "completed_at"], name="resp_survey_done"),
            models.Index(fields=["customer", "completed_at"], name="resp_customer_time"),
            models.Index(fields=["unit", "completed_at"], name="resp_unit_time"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} ({self.state})"

    def score_fields(self) -> dict[str, Any]:
        return {
            "nps_score": self.nps_score,
            "nps_class": self.nps_class or None,
            "csat": self.csat,
            "csat_top2": self.csat_top2,
            "ces": self.ces,
            "loyalty": self.loyalty,
            "attachment": self.attachment,
            "tier": self.tier or None,
            "csi_index": self.csi_index,
            "csi_factors": self.csi_factors,
        }


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value_number = models.IntegerField(null=True, blank=True)
    value_text = models.TextField(blank=True, default="")
    value_choices = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_unique")
        ]

    def __str__(self) -> str:
        return f"{self.response_id}/{self.question_id}"

    @property
    def value(self) -> Any:
        if self.value_choices is not None:
            return list(self.value_choices)
        if self.value_number is not None:
            return self.value_number
        return self.value_text or None

    @staticmethod
    def columns_for(question_type: str, value: Any) -> dict[str, Any]:
        """The typed columns that hold `value` for a question of this type."""
        if question_type == q.MULTIPLE_CHOICE:
            return {"value_number": None, "value_text": "", "value_choices": list(value)}
        if question_type in q.NUMERIC_TYPES:
            return {"value_number": int(value), "value_text": "", "value_choices": None}
        return {"value_number": None, "value_text": str(value), "value_choices": None}


# --- distribution ------------------------------------------------------------------------------


class ContactPolicy(SingleRowSettings):
    """The global contact rules (one row): how often and when a customer may be invited."""

    quarantine_days = models.PositiveSmallIntegerField(
        _("quarantine (days)"),
        default=30,
        help_text=_("At most one invitation per customer in this many days, across all surveys."),
    )
    quiet_start = models.TimeField(_("quiet hours start"), default=dt.time(21, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=dt.time(9, 0))
    max_attempts = models.PositiveSmallIntegerField(
        _("sending attempts"),
        default=6,
        help_text=_("After this many failed attempts an invitation is marked bounced."),
    )

    class Meta:
        verbose_name = _("contact policy")
        verbose_name_plural = _("contact policy")


class SendingSettings(models.Model):
    """Shared fields of event rules and waves: what is sent, how, and its reminder."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(
        _("channel"),
        max_length=8,
        choices=[
            (Invitation.Channel.EMAIL, Invitation.Channel.EMAIL.label),
            (Invitation.Channel.SMS, Invitation.Channel.SMS.label),
        ],
        default=Invitation.Channel.EMAIL,
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("reminder after (days)"),
        null=True,
        blank=True,
        help_text=_("One reminder this many days after sending when not completed; empty: none."),
    )
    validity_days = models.PositiveSmallIntegerField(_("link valid for (days)"), default=30)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class EventRule(SendingSettings):
    """When a touchpoint of a kind arrives (optionally filtered), invite after a delay."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    touchpoint_kind = models.CharField(_("touchpoint kind"), max_length=64)
    touchpoint_channels = models.JSONField(
        _("touchpoint channels"), default=list, blank=True
    )  # empty: any
    unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("within unit"),
    )
    context_filter = models.JSONField(
        _("context filter"), default=dict, blank=True
    )  # {name: value or [values]}
    delay_hours = models.PositiveIntegerField(_("delay (hours)"), default=48)
    priority = models.SmallIntegerField(
        _("priority"),
        default=100,
        help_text=_("When two rules fire for one touchpoint, the lower number wins."),
    )

    class Meta:
        ordering = ["priority", "pk"]
        verbose_name = _("event rule")
        verbose_name_plural = _("event rules")

    def __str__(self) -> str:
        return self.name


class Wave(SendingSettings):
    """A periodic invitation to a segment, sampled and stratified by unit."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("home unit within"),
    )
    languages = models.JSONField(_("languages"), default=list, blank=True)  # empty: all
    attribute_filter = models.JSONField(_("attribute filter"), default=dict, blank=True)
    touchpoint_kind = models.CharField(
        _("with a touchpoint of kind"), max_length=64, blank=True, default=""
    )
    touchpoint_within_days = models.PositiveIntegerField(
        _("in the last (days)"), null=True, blank=True
    )
    sample_rate = models.FloatField(_("sample rate"), null=True, blank=True)  # 0 < r <= 1
    sample_count = models.PositiveIntegerField(_("sample size"), null=True, blank=True)
    stratify_by_unit = models.BooleanField(_("stratify by unit"), default=True)
    every_months = models.PositiveSmallIntegerField(
        _("repeat every (months)"), null=True, blank=True
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    seed = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        indexes = [models.Index(fields=["active", "next_run_at"], name="wave_due")]

    def __str__(self) -> str:
        return self.name


class SmsProviderConfig(models.Model):
    """Where SMS go: a generic webhook receiving {"to", "text"} signed with HMAC."""

    name = models.CharField(_("name"), max_length=100, default="webhook")
    url = models.URLField(_("webhook URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SMS provider")
        verbose_name_plural = _("SMS providers")

    def __str__(self) -> str:
        return self.name
