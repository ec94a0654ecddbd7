"""Waves: periodic invitations (e.g. a semi-annual CSI) to a segment of customers, sampled by
rate or count and stratified by home unit.

Set-based from end to end, so that a million customers take seconds, not an ORM object each: the
segment is read as columns (one SQL query into numpy arrays), the contact rules are numpy masks
over those arrays (rapport.surveys.contact_rules.suppression_codes), sampling is numpy
(rapport.surveys.sampling), and the invitations go in with one `executemany` (SQLite) or `COPY`
(PostgreSQL) in the run's single transaction. Suppressed customers of a wave get no row: the
report counts them per rule (and the dry run lists a sample).

The quarantine of a wave is measured from the run's time; quiet hours move each customer's
sending time to the end of the quiet hours in their home unit's time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
import zoneinfo
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.customers.models import Consent, Customer
from rapport.surveys import actions, sampling
from rapport.surveys import contact_rules as rules
from rapport.surveys import questions as q
from rapport.surveys.distribution import ADDRESS_FIELD, CONTACTS, current_policy, unit_zones
from rapport.surveys.models import Invitation, Wave
from rapport.touchpoints.models import Touchpoint

LANGUAGES = list(q.LANGUAGES)
SAMPLE_LIST = 20
COLUMNS = (
    "version_id", "survey_id", "customer_id", "channel", "unit_id", "token_hash", "status",
    "suppressed_by", "language", "created_at", "scheduled_for", "next_attempt_at", "expires_at",
    "wave_id", "reason", "attempts", "last_error", "remind_after_days",
)  # fmt: skip
INSERT_BATCH = 20_000


@dataclass
class WaveReport:
    wave_id: int
    wave_name: str
    run_at: str
    dry_run: bool
    segment: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    eligible: int = 0
    invited: int = 0
    per_unit: dict[str, int] = field(default_factory=dict)  # unit id ("none") → invited
    invited_sample: list[int] = field(default_factory=list)  # customer ids
    suppressed_sample: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment(wave: Wave, now: dt.datetime) -> QuerySet[Customer]:
    """The wave's customers before contact rules and sampling (merged records never count)."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    if wave.unit_id:
        customers = customers.filter(home_unit__path__startswith=wave.unit.path)
    if wave.languages:
        customers = customers.filter(preferred_language__in=wave.languages)
    for name, value in (wave.attribute_filter or {}).items():
        lookup = f"attributes__{name}__in" if isinstance(value, list) else f"attributes__{name}"
        customers = customers.filter(**{lookup: value})
    if wave.touchpoint_kind:
        touchpoints = Touchpoint.objects.filter(customer=OuterRef("pk"), kind=wave.touchpoint_kind)
        if wave.touchpoint_within_days:
            since = now - dt.timedelta(days=wave.touchpoint_within_days)
            touchpoints = touchpoints.filter(occurred_at__gte=since)
        customers = customers.filter(Exists(touchpoints))
    return customers


def _segment_columns(wave: Wave, now: dt.datetime) -> dict[str, np.ndarray]:
    """id, home unit (0: none), language index and has-an-address of every segment customer."""
    address = ADDRESS_FIELD.get(wave.channel, "email")
    query = (
        segment(wave, now)
        .annotate(reachable=ExpressionWrapper(~Q(**{address: ""}), output_field=BooleanField()))
        .values_list("id", "home_unit_id", "preferred_language", "reachable")
        .order_by()
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    n = len(rows)
    language = {code: i for i, code in enumerate(LANGUAGES)}
    return {
        "id": np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        "unit": np.fromiter((r[1] or 0 for r in rows), dtype=np.int64, count=n),
        "lang": np.fromiter((language.get(r[2], 0) for r in rows), dtype=np.int8, count=n),
        "reachable": np.fromiter((bool(r[3]) for r in rows), dtype=bool, count=n),
    }


def _id_array(values: Any) -> np.ndarray:
    with connection.cursor() as cursor:
        sql, params = values.query.sql_with_params()
        cursor.execute(sql, params)
        return np.fromiter((r[0] for r in cursor.fetchall()), dtype=np.int64)


def schedule_wave(
    wave: Wave, now: dt.datetime | None = None, *, dry_run: bool = False
) -> WaveReport:
    """Run the wave once: segment → contact rules → sample → invitations (one transaction).

    With dry_run nothing is written and the report says who would be invited and, for the
    others, which rule stopped them; a dry run predicts the next real run (same random seed).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    report = WaveReport(wave.pk, wave.name, now.isoformat(), dry_run)
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        t = time.perf_counter()
        phases[name] = round(t - mark, 3)
        mark = t

    policy = current_policy()
    cols = _segment_columns(wave, now)
    ids = cols["id"]
    report.segment = len(ids)
    phase("segment")

    opted_out = _id_array(
        Consent.objects.filter(channel=wave.channel, purpose=rules.PURPOSE, granted=False)
        .values_list("customer_id")
        .order_by()
    )
    window = policy.quarantine
    recent = (
        _id_array(
            Invitation.objects.filter(
                customer__isnull=False,
                status__in=CONTACTS,
                scheduled_for__gt=now - window,
                scheduled_for__lt=now + window,
            )
            .values_list("customer_id")
            .order_by()
        )
        if policy.quarantine_days
        else np.arange(0, dtype=np.int64)
    )
    codes = rules.suppression_codes(
        len(ids),
        {
            rules.CONSENT: np.isin(ids, opted_out),
            rules.NO_ADDRESS: ~cols["reachable"],
            rules.QUARANTINE: np.isin(ids, recent),
        },
    )
    report.suppressed = rules.counts_by_rule(codes)
    for i, rule in enumerate(rules.RULE_ORDER):
        picked = ids[codes == i + 1][:SAMPLE_LIST]
        if len(picked):
            report.suppressed_sample[rule] = picked.tolist()
    eligible = np.flatnonzero(codes == 0)
    report.eligible = len(eligible)
    phase("rules")

    rng = np.random.default_rng([wave.seed, wave.runs])
    chosen = eligible[
        sampling.sample(
            cols["unit"][eligible],
            rate=wave.sample_rate,
            count=wave.sample_count,
            stratified=wave.stratify_by_unit,
            rng=rng,
        )
    ]
    report.invited = len(chosen)
    report.invited_sample = ids[chosen[:SAMPLE_LIST]].tolist()
    units, counts = np.unique(cols["unit"][chosen], return_counts=True)
    report.per_unit = {str(u) if u else "none": int(c) for u, c in zip(units, counts, strict=True)}
    phase("sample")

    if not dry_run:
        with transaction.atomic():
            _write(wave, now, policy, ids[chosen], cols["unit"][chosen], cols["lang"][chosen])
            phase("write")
            report.seconds = round(time.perf_counter() - started, 3)
            report.phases = phases
            Wave.objects.filter(pk=wave.pk).update(
                runs=wave.runs + 1, last_run_at=now, last_report=report.as_dict()
            )
            wave.runs += 1
    report.seconds = round(time.perf_counter() - started, 3)
    report.phases = phases
    return report


def _write(
    wave: Wave,
    now: dt.datetime,
    policy: rules.Policy,
    customers: np.ndarray,
    units: np.ndarray,
    langs: np.ndarray,
) -> None:
    version = actions.live_version(wave.survey)
    if version is None or wave.survey.archived:
        raise actions.SurveyError(_("the wave's survey has no published version"))
    if not len(customers):
        return
    zones, default = unit_zones()
    postgres = connection.vendor == "postgresql"

    def stamp(value: dt.datetime) -> Any:
        utc = value.astimezone(dt.UTC)
        return utc if postgres else utc.replace(tzinfo=None).isoformat(" ")

    validity = dt.timedelta(days=max(wave.validity_days, 1))
    at_unit: dict[int, tuple[Any, Any]] = {}
    for unit in np.unique(units).tolist():
        zone: zoneinfo.ZoneInfo = zones.get(unit, default) if unit else default
        send = rules.quiet_adjusted(now, zone, policy.quiet_start, policy.quiet_end)
        at_unit[unit] = (stamp(send), stamp(send + validity))
    created = stamp(now)
    reminder = wave.reminder_days or None
    fixed_head = (version.pk, wave.survey_id)
    reason = f"wave {wave.name}"[:200]

    def rows() -> Iterator[tuple[Any, ...]]:
        for customer, unit, lang in zip(
            customers.tolist(), units.tolist(), langs.tolist(), strict=True
        ):
            send, expires = at_unit[unit]
            yield (
                *fixed_head, customer, wave.channel, unit or None, "", Invitation.Status.SCHEDULED,
                "", LANGUAGES[lang], created, send, send, expires, wave.pk, reason, 0, "",
                reminder,
            )  # fmt: skip

    qn = connection.ops.quote_name
    table = qn(Invitation._meta.db_table)
    names = ", ".join(qn(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        if postgres:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
            return
        # The driver's own cursor: Django's wrapper rewrites every row's parameters.
        raw = cursor.cursor
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['?'] * len(COLUMNS))})"
        batch: list[tuple[Any, ...]] = []
        for row in rows():
            batch.append(row)
            if len(batch) >= INSERT_BATCH:
                raw.executemany(sql, batch)
                batch = []
        if batch:
            raw.executemany(sql, batch)


# --- periodic launching -----------------------------------------------------------------------


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def following_run(
    previous: dt.datetime, months: int | None, now: dt.datetime
) -> dt.datetime | None:
    """The next run after `previous`, skipping runs missed while no worker ran; None: one-off."""
    if not months:
        return None
    upcoming = add_months(previous, months)
    while upcoming <= now:
        upcoming = add_months(upcoming, months)
    return upcoming


def claim_due_waves(now: dt.datetime | None = None) -> list[int]:
    """Take every wave that is due (moving its next run forward with a conditional UPDATE, so
    each run is launched once however many workers look); return their ids."""
    now = now or timezone.now()
    taken = []
    for wave_id, due, months in Wave.objects.filter(active=True, next_run_at__lte=now).values_list(
        "id", "next_run_at", "every_months"
    ):
        moved = Wave.objects.filter(pk=wave_id, next_run_at=due).update(
            next_run_at=following_run(due, months, now)
        )
        if moved:
            taken.append(wave_id)
    return taken


def run_wave_by_id(wave_id: int, now: dt.datetime | None = None) -> WaveReport:
    wave = Wave.objects.select_related("survey", "unit").get(pk=wave_id)
    return schedule_wave(wave, now)
