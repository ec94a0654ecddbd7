"""Voice of the customer: feedback items from every channel, what the analyser read in them,
people's corrections, themes, and campaigns (implicit feedback).

The original text is kept as data, exactly as received; the analysis results sit beside it and
can be recomputed. Causes and themes are also kept one row per label (FeedbackLabel) so that the
dashboards count them with SQL aggregates on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rapport.customers.models import Customer
from rapport.org.models import OrgUnit, Staff
from rapport.touchpoints.models import Touchpoint

CHANNELS: dict[str, object] = {
    "form": _("Web form"),
    "widget": _("Website widget"),
    "email": _("Email"),
    "call": _("Call notes"),
    "chat": _("Chat"),
    "review": _("Review site"),
    "app_store": _("App store"),
    "survey": _("Survey answer"),
    "api": _("API"),
    "import": _("Import"),
}

SENTIMENTS: dict[str, object] = {
    "negative": _("Negative"),
    "neutral": _("Neutral"),
    "positive": _("Positive"),
}

CAUSE_LABELS: dict[str, object] = {
    "price": _("Price"),
    "inconvenience": _("Inconvenience"),
    "core_failure": _("Core service failure"),
    "service_encounter": _("Service encounter"),
    "response_failure": _("Response to failure"),
    "competition": _("Competition"),
    "ethics": _("Ethical problem"),
    "involuntary": _("Involuntary"),
}

LANGUAGES: dict[str, object] = {
    "en": _("English"),
    "zh-Hant": _("Traditional Chinese"),
    "zh-Hans": _("Simplified Chinese"),
    "mixed": _("Mixed"),
    "und": _("Undetermined"),
}


class Campaign(models.Model):
    """An offer sent to a target segment over a period; a hold-out control group (a share drawn
    at random with a seed, or an explicit list) makes its lift measurable. Touchpoints belong to
    it by their context key `campaign` = the campaign's key."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    offer = models.TextField(_("offer"), blank=True, default="")
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    response_days = models.PositiveSmallIntegerField(
        _("response window after the end (days)"), default=14
    )
    segment = models.JSONField(_("target segment"), default=dict, blank=True)
    control_share = models.FloatField(_("control group share"), default=0.0)
    seed = models.IntegerField(_("random seed"), default=0)
    unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("unit"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    members_drawn_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class CampaignMember(models.Model):
    class Group(models.TextChoices):
        TREATMENT = "treatment", _("Treatment")
        CONTROL = "control", _("Control (held out)")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    group = models.CharField(_("group"), max_length=10, choices=Group.choices)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_member_unique")
        ]
        indexes = [models.Index(fields=["campaign", "group"], name="fb_member_group")]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}/{self.group}"


class Theme(models.Model):
    """A user-defined theme: a name, keywords (any language) and a few example texts."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    examples = models.JSONField(_("examples"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # The emerging-theme cluster it was promoted from: {"size", "quotes", "terms", "at"}.
    promoted_from_cluster = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("theme")
        verbose_name_plural = _("themes")

    def __str__(self) -> str:
        return self.name


class FeedbackItem(models.Model):
    """One piece of unsolicited (or open-text survey) feedback, and what was read in it."""

    text = models.TextField(_("text"), blank=True, default="")
    title = models.CharField(_("title"), max_length=300, blank=True, default="")
    channel = models.CharField(
        _("channel"), max_length=16, choices=list(CHANNELS.items()), default="api"
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback_items",
        db_index=False,  # the (customer, received_at) index serves it
    )
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("unit"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # the (unit, received_at) index serves it
    )
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback_items",
    )
    language = models.CharField(_("language"), max_length=16, blank=True, default="")
    received_at = models.DateTimeField(_("received at"))
    source = models.CharField(_("source"), max_length=64, default="api")
    external_id = models.CharField(_("external id"), max_length=200, blank=True, default="")
    rating = models.SmallIntegerField(_("rating"), null=True, blank=True)
    author_name = models.CharField(_("author"), max_length=200, blank=True, default="")
    author_contact = models.CharField(_("author contact"), max_length=254, blank=True, default="")
    meta = models.JSONField(default=dict, blank=True)  # extra columns of an import, mail headers
    client_hash = models.CharField(max_length=64, blank=True, default="")  # public form limits
    # Analysis (rapport.feedback.analysis): recomputable; corrections overwrite the labels.
    sentiment = models.CharField(
        _("sentiment"), max_length=8, blank=True, default="", choices=list(SENTIMENTS.items())
    )
    sentiment_score = models.FloatField(_("sentiment score"), null=True, blank=True)
    causes = models.JSONField(_("causes"), default=list, blank=True)  # [[cause, confidence]]
    themes = models.JSONField(_("themes"), default=list, blank=True)  # [[theme key, confidence]]
    severity = models.FloatField(_("severity"), default=0.0)
    analyzed_at = models.DateTimeField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True, default="")
    corrected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("feedback item")
        verbose_name_plural = _("feedback items")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="feedback_source_external_unique",
            )
        ]
        indexes = [
            models.Index(fields=["received_at"], name="fb_time"),
            models.Index(fields=["unit", "received_at"], name="fb_unit_time"),
            models.Index(fields=["channel", "received_at"], name="fb_channel_time"),
            models.Index(fields=["sentiment", "received_at"], name="fb_sentiment_time"),
            models.Index(fields=["customer", "-received_at"], name="fb_customer_time"),
            models.Index(fields=["client_hash", "received_at"], name="fb_client_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:40]}"

    @property
    def cause_list(self) -> list[tuple[str, object, float]]:
        """(code, label, confidence) for display."""
        out = []
        for pair in self.causes or ():
            try:
                code, conf = pair[0], float(pair[1])
            except (TypeError, ValueError, IndexError):
                continue
            out.append((code, CAUSE_LABELS.get(code, code), conf))
        return out


class FeedbackLabel(models.Model):
    """One cause or theme of an item, one row each: what the dashboards count."""

    class Kind(models.TextChoices):
        CAUSE = "cause", _("Cause")
        THEME = "theme", _("Theme")

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="labels")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    key = models.CharField(max_length=64)
    confidence = models.FloatField(default=1.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "kind", "key"], name="feedback_label_unique")
        ]
        indexes = [models.Index(fields=["kind", "key"], name="fb_label_key")]

    def __str__(self) -> str:
        return f"{self.item_id}:{self.kind}:{self.key}"


class Correction(models.Model):
    """A person's relabelling of an item: training data for `rapport feedback train`.

    field "sentiment": value negative|neutral|positive. field "cause": one row per cause the
    item has after the correction (value "none" when it has none). field "theme": one row per
    theme key (value "none" likewise)."""

    class Field(models.TextChoices):
        SENTIMENT = "sentiment", _("Sentiment")
        CAUSE = "cause", _("Cause")
        THEME = "theme", pgettext_lazy("feedback", "Theme")

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="corrections")
    field = models.CharField(_("field"), max_length=16, choices=Field.choices)
    value = models.CharField(_("value"), max_length=64)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("correction")
        verbose_name_plural = _("corrections")

    def __str__(self) -> str:
        return f"{self.item_id}:{self.field}={self.value}"
