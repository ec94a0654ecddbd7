"""Cases: a closed loop per complaint or bad experience, with one owner, an audit trail, SLA
clocks, remedies under authority limits, approvals, promises and messages to the customer.

Every change goes through rapport.cases.actions, which bumps `Case.version` with a conditional
UPDATE (optimistic concurrency) and writes a CaseEvent per changed field.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rapport.cases import business_time, priority, states
from rapport.cases import rules as rule_logic
from rapport.core.models import SingleRowSettings
from rapport.customers.models import Customer
from rapport.org.models import OrgUnit, Staff

CHURN_CAUSES: dict[str, str] = {
    "price": _("Price"),
    "inconvenience": _("Inconvenience"),
    "core_failure": _("Core service failure"),
    "service_encounter": _("Service encounter failure"),
    "response_failure": _("Response to failure"),
    "competition": _("Competition"),
    "ethics": _("Ethical problems"),
    "involuntary": _("Involuntary"),
}
SLA_TARGETS = ("ack", "response", "resolve")  # acknowledge, first response, resolution


class CaseSettings(SingleRowSettings):
    """The enterprise-wide settings of case handling (one row)."""

    recovery_survey = models.ForeignKey(
        "surveys.Survey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recovery survey"),
        help_text=_("Sent when a case is closed; empty: none."),
    )
    recovery_delay_hours = models.PositiveSmallIntegerField(
        _("recovery survey delay (hours)"), default=24
    )
    no_reply_days = models.PositiveSmallIntegerField(
        _("close without reply after (days)"), default=7
    )
    owner_load_limit = models.PositiveSmallIntegerField(
        _("open cases per owner (round-robin limit)"), default=30
    )
    approval_minutes = models.PositiveIntegerField(
        _("approval time (business minutes)"), default=240
    )
    warn_percent = models.PositiveSmallIntegerField(
        _("warn when this share of an SLA is used (%)"), default=80
    )
    send_acknowledgement = models.BooleanField(
        _("acknowledge new cases to the customer"), default=True
    )
    # Email intake (rapport.cases.mail_actions).
    inbox_address = models.EmailField(
        _("inbox address"),
        blank=True,
        default="",
        help_text=_(
            "The address customers write to; replies to case+C-000123@… thread into that case."
        ),
    )
    new_mail_opens_case = models.BooleanField(
        _("a new email (not a reply) opens a case"), default=True
    )
    unknown_sender_creates_customer = models.BooleanField(
        _("an email from an unknown address creates a customer"),
        default=True,
        help_text=_("Off: such mail is stored as unmatched for someone to look at."),
    )
    email_unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("unit for email cases"),
        help_text=_("Handles mail from customers without a home unit; empty: the enterprise."),
    )
    inbound_max_mb = models.PositiveSmallIntegerField(
        _("largest email parsed (MB)"),
        default=25,
        help_text=_("Bigger mail is kept (raw, capped) and flagged, with its headers only."),
    )
    imap_host = models.CharField(
        _("IMAP server"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("Empty: no polling. The password comes from RAPPORT_IMAP_PASSWORD."),
    )
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_ssl = models.BooleanField(_("IMAP over TLS"), default=True)
    imap_user = models.CharField(_("IMAP user"), max_length=200, blank=True, default="")
    imap_folder = models.CharField(_("IMAP folder"), max_length=200, default="INBOX")
    weekly_digest = models.BooleanField(
        _("send the weekly digest to every unit's staff"), default=True
    )

    class Meta:
        verbose_name = _("case settings")
        verbose_name_plural = _("case settings")


class SlaPolicy(models.Model):
    """Targets for one priority, in business minutes of the case's unit."""

    priority = models.CharField(
        _("priority"), max_length=2, choices=list(priority.PRIORITIES.items()), unique=True
    )
    acknowledge_minutes = models.PositiveIntegerField(_("acknowledge within (business minutes)"))
    first_response_minutes = models.PositiveIntegerField(
        _("first response within (business minutes)")
    )
    resolve_minutes = models.PositiveIntegerField(_("resolve within (business minutes)"))

    class Meta:
        ordering = ["priority"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.priority


def default_hours() -> dict[str, list[list[str]]]:
    return {
        day: [list(span) for span in spans] for day, spans in business_time.DEFAULT_HOURS.items()
    }


class BusinessCalendar(models.Model):
    """Opening hours and closed days of a unit (and the units under it without their own);
    the row without a unit is the default. The time zone is the unit's."""

    unit = models.OneToOneField(
        OrgUnit, on_delete=models.CASCADE, null=True, blank=True, related_name="business_calendar"
    )
    hours = models.JSONField(_("opening hours"), default=default_hours)
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=3,
        blank=True,
        default="",
        help_text=_("Country code, e.g. TW, CN, HK, KR, US."),
    )
    holiday_subdivision = models.CharField(max_length=8, blank=True, default="")
    closed_dates = models.JSONField(_("other closed days"), default=list, blank=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return f"calendar of {self.unit or 'everyone'}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        try:
            business_time.Calendar.build(
                "UTC", self.hours, self.holiday_country, self.holiday_subdivision, self.closed_dates
            )
        except business_time.CalendarError as exc:
            raise ValidationError(str(exc)) from exc


class AuthorityLimit(models.Model):
    """The remedy value someone may grant alone, per currency: for a role, or for one person
    (a person's own limit wins over their role's)."""

    role = models.CharField(
        _("role"), max_length=16, choices=Staff.Role.choices, blank=True, default=""
    )
    staff = models.ForeignKey(
        Staff, on_delete=models.CASCADE, null=True, blank=True, related_name="authority_limits"
    )
    currency = models.CharField(_("currency"), max_length=3)
    max_value = models.DecimalField(_("maximum value"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("authority limit")
        verbose_name_plural = _("authority limits")
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="") & Q(staff__isnull=False))
                | (~Q(role="") & Q(staff__isnull=True)),
                name="authority_role_xor_staff",
            ),
            models.UniqueConstraint(
                fields=["role", "currency"],
                condition=Q(staff__isnull=True),
                name="authority_role_unique",
            ),
            models.UniqueConstraint(
                fields=["staff", "currency"],
                condition=Q(staff__isnull=False),
                name="authority_staff_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff or self.role}: {self.max_value} {self.currency}"


class CaseRule(models.Model):
    """A configurable trigger (rapport.cases.rules holds the conditions and their logic)."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    condition = models.CharField(
        _("condition"), max_length=32, choices=[(c, c) for c in rule_logic.CONDITIONS]
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    topic = models.SlugField(_("topic"), max_length=64, default=rule_logic.DEFAULT_TOPIC)
    severity = models.CharField(
        _("severity"), max_length=8, choices=list(priority.SEVERITIES.items()), default="medium"
    )
    unit = models.ForeignKey(
        OrgUnit,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only events of this unit and the units under it; empty: all."),
    )
    order = models.PositiveIntegerField(_("order"), default=100)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("case rule")
        verbose_name_plural = _("case rules")

    def __str__(self) -> str:
        return self.name

    @property
    def trigger(self) -> str:
        return rule_logic.CONDITIONS[self.condition][0]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        problems = rule_logic.validate(self.condition, self.params or {})
        if problems:
            raise ValidationError(problems)


# A target was missed. The inbox's Breached tab filters on exactly this condition, so that the
# database serves it from the partial index of breached cases (Case.Meta, case_breached_state_due).
BREACHED = (
    Q(ack_breached_at__isnull=False)
    | Q(response_breached_at__isnull=False)
    | Q(resolve_breached_at__isnull=False)
)


class Case(models.Model):
    class Source(models.TextChoices):
        SURVEY = "survey", _("Survey")
        COMPLAINT = "complaint", _("Complaint")
        TOUCHPOINT_RULE = "touchpoint_rule", _("Touchpoint rule")
        MANUAL = "manual", _("By hand")
        EMAIL = "email", _("Email")
        API = "api", _("API")
        FEEDBACK = "feedback", _("Feedback")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cases")
    topic = models.SlugField(_("topic"), max_length=64, default=rule_logic.DEFAULT_TOPIC)
    subject = models.CharField(_("subject"), max_length=300)
    description = models.TextField(_("description"), blank=True, default="")
    remedy_wanted = models.TextField(_("what the customer wants"), blank=True, default="")
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    response = models.ForeignKey(
        "surveys.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="cases"
    )
    touchpoint = models.ForeignKey(
        "touchpoints.Touchpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule = models.ForeignKey(
        CaseRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    severity = models.CharField(
        _("severity"), max_length=8, choices=list(priority.SEVERITIES.items())
    )
    value_tier = models.CharField(_("value tier"), max_length=8, default=priority.DEFAULT_TIER)
    priority = models.CharField(
        _("priority"), max_length=2, choices=list(priority.PRIORITIES.items())
    )
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="cases")
    owner = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="owned_cases")
    state = models.CharField(
        _("state"), max_length=20, choices=list(states.STATES.items()), default=states.NEW
    )
    version = models.PositiveIntegerField(default=1)
    language = models.CharField(_("language"), max_length=8, default="en")
    opened_at = models.DateTimeField(_("opened at"))
    assigned_at = models.DateTimeField()
    # SLA clocks: due and warning instants per target, when met, warned and breached.
    ack_due_at = models.DateTimeField(null=True, blank=True)
    ack_warn_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_warned_at = models.DateTimeField(null=True, blank=True)
    ack_breached_at = models.DateTimeField(null=True, blank=True)
    response_due_at = models.DateTimeField(null=True, blank=True)
    response_warn_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    response_warned_at = models.DateTimeField(null=True, blank=True)
    response_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_due_at = models.DateTimeField(null=True, blank=True)
    resolve_warn_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_warned_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)
    # The next instant the SLA sweep must look at this case (None: nothing pending or paused).
    sla_next_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_minutes = models.FloatField(_("paused business minutes"), default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_basis = models.CharField(
        _("closed because"),
        max_length=16,
        blank=True,
        default="",
        choices=list(states.CLOSE_BASES.items()),
    )
    # Learning (on resolving).
    cause = models.CharField(
        _("cause"), max_length=20, blank=True, default="", choices=list(CHURN_CAUSES.items())
    )
    sub_cause = models.CharField(_("sub-cause"), max_length=200, blank=True, default="")
    fix = models.TextField(_("what fixed it"), blank=True, default="")
    reusable = models.BooleanField(_("reusable resolution"), default=False)
    # Counters for reports.
    transfer_count = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    signal_count = models.PositiveIntegerField(_("signals"), default=1)
    recovery_invitation = models.ForeignKey(
        "surveys.Invitation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recovery_response = models.ForeignKey(
        "surveys.Response", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        constraints = [
            # One open case per customer and topic: a new signal attaches to it (race-safe).
            models.UniqueConstraint(
                fields=["customer", "topic"],
                condition=~Q(state=states.CLOSED),
                name="case_one_open_per_topic",
            )
        ]
        indexes = [
            models.Index(fields=["unit", "state", "resolve_due_at"], name="case_unit_state_due"),
            models.Index(fields=["owner", "state", "resolve_due_at"], name="case_owner_state_due"),
            models.Index(
                fields=["sla_next_at"], name="case_sla_next", condition=Q(sla_next_at__isnull=False)
            ),
            models.Index(fields=["customer", "-opened_at"], name="case_customer_time"),
            models.Index(fields=["cause", "reusable"], name="case_cause_reusable"),
            # The inbox's Breached tab reads breached cases from this partial index alone, one
            # state at a time in due order (as the other tabs read the full index): the state
            # leads, so a unit's breached closed history is never scanned for its open cases.
            models.Index(
                fields=["state", "unit", "resolve_due_at"],
                name="case_breached_state_due",
                condition=BREACHED,
            ),
            # CX managers and admins see every unit: their inbox reads per state, in due order
            models.Index(fields=["state", "resolve_due_at"], name="case_state_due"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.subject}"

    @property
    def ref(self) -> str:
        return f"C-{self.pk:06d}" if self.pk else "C-new"

    @property
    def is_open(self) -> bool:
        return self.state in states.OPEN_STATES


class CaseEvent(models.Model):
    """The audit trail: who changed what, when, from what to what, and why."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=120, blank=True, default="")  # "system", "api:erp"
    kind = models.CharField(max_length=24)  # opened, changed, note, message, transfer, remedy, ...
    field = models.CharField(max_length=40, blank=True, default="")
    old = models.TextField(blank=True, default="")
    new = models.TextField(blank=True, default="")
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["case", "at", "pk"]
        indexes = [models.Index(fields=["case", "at"], name="caseevent_case_time")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.field}"


class Transfer(models.Model):
    """A change of owner: a cost to report (R7 killer 3: passing customers on)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="transfers")
    at = models.DateTimeField()
    from_staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    to_staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    from_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    to_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=500)
    by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["case", "at"]
        indexes = [
            models.Index(fields=["from_unit", "at"], name="transfer_unit_time"),
            models.Index(fields=["from_staff", "at"], name="transfer_staff_time"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_staff_id} → {self.to_staff_id}"


class Remedy(models.Model):
    class Kind(models.TextChoices):
        GOODWILL_CREDIT = "goodwill_credit", _("Goodwill credit")
        REFUND = "refund", _("Refund")
        VOUCHER = "voucher", _("Voucher")
        FREE_SERVICE = "free_service", _("Free service")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="remedies")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    description = models.CharField(_("description"), max_length=500, blank=True, default="")
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=list(states.REMEDY_STATES.items()),
        default=states.PROPOSED,
    )
    proposed_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    proposed_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    consent_channel = models.CharField(_("consent channel"), max_length=16, blank=True, default="")
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_recorded_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["case", "proposed_at", "pk"]
        verbose_name = _("remedy")
        verbose_name_plural = _("remedies")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value} {self.currency}"


class ApprovalRequest(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")
        ESCALATED = "escalated", _("Escalated (not acted on in time)")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    remedy = models.ForeignKey(Remedy, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="approval_requests")
    level = models.PositiveSmallIntegerField(_("escalation level"), default=1)
    requested_at = models.DateTimeField()
    due_at = models.DateTimeField()
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    reason = models.TextField(_("reason"), blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(
                fields=["due_at"], name="approval_pending_due", condition=Q(decision="pending")
            ),
            models.Index(fields=["approver", "decision"], name="approval_approver"),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} of remedy {self.remedy_id} ({self.decision})"


class Promise(models.Model):
    """Something the owner told the customer they would do, by a date: a follow-up task
    (pledge 6, 003: do what you say). Kept and broken promises are counted."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        KEPT = "kept", _("Kept")
        BROKEN = "broken", _("Broken")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="promises")
    text = models.CharField(_("promise"), max_length=500)
    due_at = models.DateTimeField(_("by"))
    made_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    made_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "due_at"]
        indexes = [
            models.Index(fields=["due_at"], name="promise_open_due", condition=Q(state="open"))
        ]

    def __str__(self) -> str:
        return self.text


class MessageTemplate(models.Model):
    """An editable message to the customer, per kind and language (Django template syntax:
    {{ customer }}, {{ case_ref }}, {{ owner }}, {{ what }}, {{ by }}, {{ body }}, {{ remedy }},
    {{ accept_url }})."""

    class Kind(models.TextChoices):
        ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
        CHECKING = "checking", _("We are checking")
        UPDATE = "update", _("Update")
        REMEDY_OFFER = "remedy_offer", _("Remedy offer")
        RESOLUTION = "resolution", _("Resolution")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=8, choices=Customer.Language.choices)
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("body"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "language"]
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="template_unique")]

    def __str__(self) -> str:
        return f"{self.kind}/{self.language}"


class CaseMessage(models.Model):
    """A message to or from the customer on a case. Outgoing ones are sent by email through
    Django's mail backend when the customer consents to service messages by email."""

    class Direction(models.TextChoices):
        OUT = "out", _("To the customer")
        IN = "in", _("From the customer")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not sent")
        RECEIVED = "received", _("Received")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=16, blank=True, default="")
    channel = models.CharField(max_length=8, default="email")
    address = models.CharField(max_length=254, blank=True, default="")
    language = models.CharField(max_length=8, default="en")
    subject = models.CharField(max_length=300, blank=True, default="")
    body = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    author = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message_id = models.CharField(max_length=300, blank=True, default="", db_index=True)
    in_reply_to = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "created_at", "pk"]
        indexes = [
            models.Index(fields=["created_at"], name="casemsg_retry", condition=Q(status="failed"))
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.subject}"


# --- email intake, rule cache, digest (rapport.cases.mail_actions, triggers, digest) ---------


class InboundEmail(models.Model):
    """One email received (MTA pipe, maildir, mbox, IMAP or API), stored before anything else is
    done with it: the raw bytes (capped), what parsing found, and where it went."""

    class Status(models.TextChoices):
        THREADED = "threaded", _("Added to its case")
        OPENED = "opened", _("Opened or joined a case")
        STORED = "stored", _("Stored (no case)")
        UNMATCHED = "unmatched", _("Sender not matched")
        FAILED = "failed", _("Could not be read")

    received_at = models.DateTimeField(_("received at"), db_index=True)
    source = models.CharField(_("source"), max_length=16)  # stdin, maildir, mbox, imap, api
    digest = models.CharField(max_length=64, unique=True)  # sha256 of the raw bytes: no doubles
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    raw = models.BinaryField(_("raw message (capped)"))
    raw_truncated = models.BooleanField(default=False)
    message_id = models.CharField(max_length=300, blank=True, default="", db_index=True)
    in_reply_to = models.CharField(max_length=300, blank=True, default="")
    references = models.TextField(blank=True, default="")
    from_address = models.CharField(_("from"), max_length=254, blank=True, default="")
    from_name = models.CharField(max_length=200, blank=True, default="")
    to_addresses = models.TextField(_("to"), blank=True, default="")
    subject = models.CharField(_("subject"), max_length=300, blank=True, default="")
    text = models.TextField(_("text"), blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    charset = models.CharField(max_length=40, blank=True, default="")
    problems = models.JSONField(_("problems"), default=list, blank=True)
    flagged = models.BooleanField(_("needs a look"), default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STORED)
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_emails"
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("inbound email")
        verbose_name_plural = _("inbound emails")
        indexes = [
            models.Index(fields=["flagged", "-received_at"], name="inbound_flagged"),
            models.Index(fields=["status", "-received_at"], name="inbound_status"),
        ]

    def __str__(self) -> str:
        return f"{self.from_address}: {self.subject}"


class InboundAttachment(models.Model):
    """A file of an inbound email: stored when small enough, else listed with its size."""

    email = models.ForeignKey(InboundEmail, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(_("file name"), max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    data = models.BinaryField(null=True, blank=True)  # None: too big, only listed
    stored = models.BooleanField(default=False)

    class Meta:
        ordering = ["email", "pk"]

    def __str__(self) -> str:
        return self.filename or self.content_type


class RuleVersion(models.Model):
    """One row whose number goes up whenever a case rule is saved or deleted: every process
    compares it with the number its cached rules were read at (rapport.cases.triggers)."""

    number = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("case rule version")

    def __str__(self) -> str:
        return str(self.number)


class DigestLog(models.Model):
    """A weekly digest sent for a unit: one row per (unit, week), taken before sending, so two
    workers never send the same digest twice."""

    unit = models.ForeignKey(OrgUnit, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField(_("week of"))
    taken_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-week_start", "unit"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "week_start"], name="digest_once_per_week")
        ]

    def __str__(self) -> str:
        return f"digest {self.unit_id} {self.week_start}"
