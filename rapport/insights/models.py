"""What the insights job writes and the dashboards read.

Nothing here is computed on a page view: rapport.insights.jobs fills these tables from columnar
loads of touchpoints, responses and customers (rapport.insights.frames) with the plain measures
of rapport.insights.{measures,retention,advocates,drivers}. docs/guide/insights.md describes every
table for the people who build pages on them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rapport.customers.models import Customer
from rapport.org.models import OrgUnit


class RecomputeRun(models.Model):
    """One run of the job: when, up to which records, and the calibration it used.

    `calibration` holds what makes a customer's facts comparable with everyone else's — the
    fitted lifetime-value models, the RFM and value-tier cut points and the fallback visit
    cadence — so an incremental run scores new customers on the last full run's scale.
    """

    class Kind(models.TextChoices):
        FULL = "full", _("Full")
        INCREMENTAL = "incremental", _("Incremental")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    as_of = models.DateTimeField(_("as of"))
    touchpoint_watermark = models.BigIntegerField(default=0)  # highest touchpoint id seen
    response_watermark = models.BigIntegerField(default=0)  # highest response id seen
    customers = models.PositiveIntegerField(default=0)  # customer facts written
    calibration = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds per step
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("insights recompute")
        verbose_name_plural = _("insights recomputes")

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M}"


# The CustomerInsight columns a segment filters on or adds up (segmentation.segment_measures),
# in the covering indexes below.
SEGMENT_COLUMNS = (
    "home_unit",
    "visits_per_year",
    "model_year",
    "matrix_cell",
    "retention_state",
    "engagement_tier",
    "value_tier",
    "nps_class",
    "referrals",
    "lock_in_flag",
    "p_alive",
    "clv",
    "profit",
    "revenue",
    "referred_customers",
)
FLAG_INDEX_COLUMNS = tuple(c for c in SEGMENT_COLUMNS if c != "clv")  # after −clv, customer
SEGMENT_FLAG_INDEXES = (
    ("ci_seg_promoters", models.Q(nps_class="promoter")),
    ("ci_seg_referrers", models.Q(referrals__gt=0)),
    ("ci_seg_lock_in", models.Q(lock_in_flag=True)),
)


class CustomerInsight(models.Model):
    """Per-customer facts, one row per (unmerged) customer with any touchpoint or response."""

    class Retention(models.TextChoices):
        RETAINED = "retained", _("Retained")
        AT_RISK = "at_risk", _("At risk")
        LOST = "lost", _("Lost")
        NO_VISITS = "no_visits", _("No visits")

    class Cell(models.TextChoices):
        ADVOCATE = "advocate", _("Advocates")
        LOCKED_IN = "locked_in", _("Locked in")
        AT_RISK = "at_risk", _("At risk")
        LOST = "lost", _("Lost")
        UNMEASURED = "unmeasured", _("Retained, loyalty not measured")
        NO_VISITS = "no_visits", _("No visits")

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="insight"
    )
    home_unit = models.ForeignKey(
        OrgUnit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )  # indexed by the (home_unit, …) indexes below
    as_of = models.DateTimeField(_("as of"))
    # Behaviour: visits are distinct local days with a purchase or service touchpoint.
    visits = models.PositiveIntegerField(_("visits"), default=0)
    first_visit = models.DateField(_("first visit"), null=True, blank=True)
    last_visit = models.DateField(_("last visit"), null=True, blank=True)
    days_since_visit = models.IntegerField(_("days since last visit"), null=True, blank=True)
    expected_gap_days = models.FloatField(_("expected gap (days)"), null=True, blank=True)
    gap_is_fallback = models.BooleanField(_("expected gap from fallback"), default=False)
    visits_per_year = models.FloatField(_("service visits a year"), null=True, blank=True)
    # The customer's `model_year` attribute (an integer, or None), copied by the job so that a
    # segment by model year is a column filter, not a JSON lookup over every customer.
    model_year = models.SmallIntegerField(_("model year"), null=True, blank=True)
    retention_state = models.CharField(_("retention"), max_length=12, choices=Retention.choices)
    # Attitude: the latest engagement and NPS answers.
    engagement_tier = models.CharField(_("engagement tier"), max_length=20, blank=True, default="")
    engagement_at = models.DateTimeField(null=True, blank=True)
    loyalty = models.FloatField(null=True, blank=True)
    attachment = models.FloatField(null=True, blank=True)
    nps_score = models.SmallIntegerField(null=True, blank=True)
    nps_class = models.CharField(max_length=10, blank=True, default="")
    matrix_cell = models.CharField(_("retention × loyalty"), max_length=12, choices=Cell.choices)
    prompted_returns = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    lock_in_flag = models.BooleanField(_("returns follow lock-in events"), default=False)
    # Value.
    revenue = models.FloatField(default=0.0)
    profit = models.FloatField(_("profit contribution"), default=0.0)
    frequency = models.FloatField(default=0.0)  # BG/NBD x, t_x, T in weeks; mean repeat spend
    recency = models.FloatField(default=0.0)
    age = models.FloatField(default=0.0)
    monetary = models.FloatField(default=0.0)
    p_alive = models.FloatField(_("P(alive)"), null=True, blank=True)
    clv = models.FloatField(_("lifetime value"), default=0.0)
    rfm_recency = models.SmallIntegerField(default=1)
    rfm_frequency = models.SmallIntegerField(default=1)
    rfm_monetary = models.SmallIntegerField(default=1)
    rfm_code = models.CharField(max_length=3, default="111")
    value_tier = models.CharField(_("value tier"), max_length=8)
    # Advocacy.
    referrals = models.PositiveIntegerField(default=0)
    referred_customers = models.PositiveIntegerField(default=0)
    referred_value = models.FloatField(default=0.0)
    referred_by = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )  # "who did A bring": CustomerInsight filtered by referred_by, a scan; rare

    class Meta:
        verbose_name = _("customer insight")
        verbose_name_plural = _("customer insights")
        # Lists behind the charts: a cell or a tier, most valuable first, for everyone or a unit.
        indexes = [
            models.Index(fields=["matrix_cell", "-clv"], name="ci_cell_clv"),
            # With the customer and home unit: a bare ?page=N of a unit's list finds its first
            # row from index entries alone (lists.by_value_tier_page), not a join per skipped row.
            # It replaced (home_unit, value_tier), which counted a unit's tiers for such skips.
            models.Index(
                fields=["value_tier", "-clv", "customer", "home_unit"], name="ci_tier_clv_unit"
            ),
            # Any other list (low P(alive), a model year, …) walks lifetime value in order and
            # stops at a page, instead of sorting every match. It replaced (home_unit,
            # matrix_cell), whose counts SegmentSummary now gives.
            models.Index(fields=["-clv", "customer"], name="ci_clv"),
            # Segments no SegmentSummary slice holds read index entries, never table rows:
            # an attribute value's customers (CustomerAttributeValue in customer order) look
            # up their figures here, and a promoter, referrer or lock-in segment with a visits
            # band, model years or an attribute reads its partial index (a few % of the base).
            # The flag indexes start with the list order, so that a list of promoters (…) walks
            # its entries and stops at a page too.
            models.Index(fields=["customer", *SEGMENT_COLUMNS], name="ci_segment"),
            *[
                models.Index(
                    fields=["-clv", "customer", *FLAG_INDEX_COLUMNS], name=name, condition=q
                )
                for name, q in SEGMENT_FLAG_INDEXES
            ],
        ]

    def __str__(self) -> str:
        return f"insight {self.customer_id}"


class ScoreSummary(models.Model):
    """A score for one cell: measure × period × dimension value, with its sufficient statistics
    (so cells can be added up) and its 95% interval.

    measure: nps, csat, ces, ces_easy, csi, loyalty, attachment, tier.<tier>
    period_kind: month, quarter, year (responses completed in the period, enterprise time zone),
                 or current (customers by their latest answer, as of the run)
    dimension: all (key ""), unit (key = unit id; a unit counts its whole subtree),
               value_tier, visits_band, channel (key = the value)
    Statistics: NPS n = a + b + c (promoters, passives, detractors); a share a successes of n;
    a mean n values with sum `total` and sum of squares `squares`.
    """

    measure = models.CharField(max_length=40)
    period_kind = models.CharField(max_length=8)
    period_start = models.DateField()
    dimension = models.CharField(max_length=20)
    key = models.CharField(max_length=64, blank=True, default="")
    n = models.PositiveIntegerField()
    a = models.PositiveIntegerField(default=0)
    b = models.PositiveIntegerField(default=0)
    c = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    squares = models.FloatField(default=0.0)
    estimate = models.FloatField(null=True)
    low = models.FloatField(null=True)
    high = models.FloatField(null=True)
    small_sample = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dimension", "key", "measure", "period_kind", "period_start"],
                name="score_summary_cell",
            )
        ]
        indexes = [models.Index(fields=["period_kind", "period_start"], name="ss_period")]

    def __str__(self) -> str:
        return f"{self.measure} {self.period_kind} {self.period_start} {self.dimension}={self.key}"


class MatrixSummary(models.Model):
    """Customers per retention state × engagement tier, by dimension (all / unit / value_tier),
    with their lifetime value: the retention × loyalty matrix and its value at risk."""

    dimension = models.CharField(max_length=20)
    key = models.CharField(max_length=64, blank=True, default="")
    retention_state = models.CharField(max_length=12)
    engagement_tier = models.CharField(max_length=20, blank=True, default="")
    cell = models.CharField(max_length=12)
    customers = models.PositiveIntegerField()
    lock_in_flagged = models.PositiveIntegerField(default=0)
    clv = models.FloatField(default=0.0)
    profit = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dimension", "key", "retention_state", "engagement_tier"],
                name="matrix_summary_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.key} {self.retention_state}/{self.engagement_tier}"


class SegmentSummary(models.Model):
    """Customers grouped by everything the segment explorer filters on that has few values —
    home unit (not its ancestors: a unit is the sum over its subtree), value tier, retention
    state, engagement tier, matrix cell, service-visits band and model year — with the sums the
    explorer shows. A segment made of these filters, its list's count, the value at risk
    (low-P(alive) customers in every cell) and a unit's value tiers are sums over a few
    thousand rows of this table instead of a pass over every CustomerInsight row.
    """

    home_unit = models.BigIntegerField(null=True)  # OrgUnit id (no key: written with COPY)
    value_tier = models.CharField(max_length=8)
    retention_state = models.CharField(max_length=12)
    engagement_tier = models.CharField(max_length=20, blank=True, default="")
    cell = models.CharField(max_length=12)
    visits_band = models.CharField(max_length=8)
    model_year = models.SmallIntegerField(null=True)
    # Slices: flags and attribute both "" for every customer of the keys, whose groups are
    # written twice: by visits band and model year, and once more without them (visits band "",
    # model year NULL: the "coarse" rows a segment that filters on neither adds up); `flags`
    # ("promoter", "low_alive+referrer", …: summaries.FLAG_NAMES joined by "+") for only the
    # customers with all those flags, and an `attribute` and `attribute_value` for only the
    # customers with that registered attribute value — both coarse rows only.
    flags = models.CharField(max_length=48, blank=True, default="")
    attribute = models.CharField(max_length=64, blank=True, default="")
    attribute_value = models.CharField(max_length=200, blank=True, default="")
    customers = models.PositiveIntegerField()
    lock_in_flagged = models.PositiveIntegerField(default=0)
    clv = models.FloatField(default=0.0)
    profit = models.FloatField(default=0.0)
    revenue = models.FloatField(default=0.0)
    p_alive_sum = models.FloatField(default=0.0)
    p_alive_n = models.PositiveIntegerField(default=0)  # customers with a P(alive)
    promoters = models.PositiveIntegerField(default=0)  # by the latest NPS answer
    passives = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)
    referrers = models.PositiveIntegerField(default=0)
    referred_customers = models.PositiveIntegerField(default=0)
    low_alive = models.PositiveIntegerField(default=0)  # P(alive) < 0.5 (queries.LOW_P_ALIVE)
    low_alive_clv = models.FloatField(default=0.0)

    class Meta:
        indexes = [
            models.Index(
                fields=["attribute", "attribute_value", "flags", "visits_band", "home_unit"],
                name="seg_summary_slice",
            )
        ]

    def __str__(self) -> str:
        return f"{self.home_unit}/{self.value_tier}/{self.cell}/{self.model_year}"


class DriverResult(models.Model):
    """How much one driver moves one target in one context (rapport.insights.drivers).

    A context with too few responses gets one row with driver "" and status too_few: shown,
    never silently missing.
    """

    survey = models.ForeignKey(
        "surveys.Survey", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )  # drivers are items of the same survey as the target
    target = models.CharField(max_length=20)  # recommend, engagement
    context_kind = models.CharField(max_length=20)  # all, visit_type, day_type, daypart
    context_value = models.CharField(max_length=40, blank=True, default="")
    driver = models.CharField(max_length=80, blank=True, default="")
    status = models.CharField(max_length=10)  # ok, too_few
    n = models.PositiveIntegerField()
    r2 = models.FloatField(null=True)
    weight = models.FloatField(null=True)  # relative weight: share of the target's variance
    low = models.FloatField(null=True)
    high = models.FloatField(null=True)
    beta = models.FloatField(null=True)  # standardised coefficient
    p_value = models.FloatField(null=True)  # Holm-adjusted
    significant = models.BooleanField(default=False)

    class Meta:
        ordering = ["survey", "target", "context_kind", "context_value", "-weight"]

    def __str__(self) -> str:
        return f"{self.target}/{self.context_kind}={self.context_value}: {self.driver}"


class InsightFigure(models.Model):
    """A named figure of the last run that is not a table: referral share, economics inputs,
    the benchmark comparison. `value` is a JSON object documented in docs/guide/insights.md."""

    key = models.CharField(max_length=40, unique=True)
    value = models.JSONField(default=dict)
    as_of = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class CompetitorBenchmark(models.Model):
    """A competitor's published or bought figures, entered by a user, with where they came from."""

    name = models.CharField(_("competitor"), max_length=200)
    period = models.CharField(_("period"), max_length=40, help_text=_("e.g. 2025 or 2025-H1"))
    source = models.CharField(_("source"), max_length=300)
    n = models.PositiveIntegerField(_("respondents"), null=True, blank=True)
    fully_engaged = models.FloatField(_("fully engaged share"), null=True, blank=True)
    engaged = models.FloatField(_("engaged share"), null=True, blank=True)
    indifferent = models.FloatField(_("indifferent share"), null=True, blank=True)
    actively_disengaged = models.FloatField(_("actively disengaged share"), null=True, blank=True)
    nps = models.FloatField(_("NPS"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "period"]
        verbose_name = _("competitor benchmark")
        verbose_name_plural = _("competitor benchmarks")

    def __str__(self) -> str:
        return f"{self.name} {self.period}"


class CustomerAttributeValue(models.Model):
    """A registered customer attribute's value per customer (as text: rapport.insights.loads
    attribute_sql), with the customer's lifetime value, written by the job: a segment or list
    by any attribute reads this index instead of the attributes JSON of every customer."""

    attribute = models.CharField(max_length=64)
    value = models.CharField(max_length=200)
    insight = models.ForeignKey(
        CustomerInsight,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # rewritten with COPY beside CustomerInsight
        db_index=False,
        related_name="attribute_values",
    )
    clv = models.FloatField(default=0.0)

    class Meta:
        indexes = [
            models.Index(fields=["attribute", "value", "-clv", "insight"], name="attr_value_clv"),
            # A segment of an attribute value with any other filter joins its customers in
            # customer order: CustomerInsight's index pages are then read in sequence, once.
            models.Index(fields=["attribute", "value", "insight"], name="attr_value_customer"),
            models.Index(fields=["insight"], name="attr_value_insight"),
        ]

    def __str__(self) -> str:
        return f"{self.insight_id}: {self.attribute}={self.value}"


class ReferralLink(models.Model):
    """A `referral` touchpoint with its friend resolved to a customer, as the last run saw it.

    Resolving the friend (a JSON field of the touchpoint looked up among every source's
    identities) costs a query per referral; the full run resolves them all and stores them
    here, and an incremental run adds the new ones and re-resolves only the links whose friend
    was unknown or whose referrer or friend has since been merged, instead of all of them.
    Plain ids, no constraints: the job rewrites the table wholesale, like its other tables.
    """

    touchpoint_id = models.BigIntegerField(primary_key=True)
    referrer = models.BigIntegerField()  # the touchpoint's customer
    ts = models.BigIntegerField()  # occurred_at, seconds since the epoch
    referred = models.BigIntegerField(null=True, blank=True)  # null: not (yet) a customer

    def __str__(self) -> str:
        return f"{self.referrer} → {self.referred} ({self.touchpoint_id})"
