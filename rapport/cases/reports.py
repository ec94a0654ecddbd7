"""Case reports per unit and period, as SQL aggregates (durations as NumPy arrays for the
percentiles): volume by cause, acknowledgement and resolution times, SLA attainment per target,
first-contact resolution, transfer rate per unit and per person, approval turnaround, recovery
rate (detractor → passive/promoter on the re-survey) and the weekly complaint trend.

Every function takes the cases already limited to what the viewer may see and to the chosen
unit's subtree (`scope`), and a period [start, end). Each returns a Table: headers and rows of
plain values, the same for the page, the charts and the CSV export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils.translation import gettext_lazy as _

from rapport.cases import clocks
from rapport.cases.models import CHURN_CAUSES, ApprovalRequest, Case, Transfer

TABLES = (
    "volume",
    "times",
    "sla",
    "fcr",
    "transfers_unit",
    "transfers_person",
    "approvals",
    "recovery",
    "trend",
)


@dataclass
class Table:
    key: str
    title: Any
    headers: list[Any]
    rows: list[list[Any]] = field(default_factory=list)
    note: Any = ""


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime  # exclusive
    tz: dt.tzinfo


def _hours(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Hours between two datetime64 columns, where both are present."""
    ok = ~(np.isnat(later) | np.isnat(earlier))
    return (later[ok] - earlier[ok]).astype("timedelta64[s]").astype(float) / 3600.0


def _column(values: Sequence[Any]) -> np.ndarray:
    return np.array(
        [np.datetime64(v.replace(tzinfo=None), "s") if v else np.datetime64("NaT") for v in values],
        dtype="datetime64[s]",
    )


def _stats(hours: np.ndarray) -> tuple[int, float | None, float | None]:
    if hours.size == 0:
        return 0, None, None
    return (
        int(hours.size),
        round(float(np.median(hours)), 1),
        round(float(np.percentile(hours, 90)), 1),
    )


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def opened_in(cases: QuerySet[Case], period: Period) -> QuerySet[Case]:
    return cases.filter(opened_at__gte=period.start, opened_at__lt=period.end)


def volume_by_cause(cases: QuerySet[Case], period: Period) -> Table:
    """Cases opened in the period by cause (still open ones have no cause yet)."""
    opened = opened_in(cases, period)
    counts = dict(opened.order_by().values_list("cause").annotate(n=Count("id")))
    total = sum(counts.values())
    rows = [
        [str(label), counts.get(code, 0), _rate(counts.get(code, 0), total)]
        for code, label in CHURN_CAUSES.items()
    ]
    rows.sort(key=lambda r: -r[1])
    rows.append([str(_("Not resolved yet")), counts.get("", 0), _rate(counts.get("", 0), total)])
    return Table(
        "volume",
        _("Volume by cause"),
        [_("Cause"), _("Cases opened"), _("Share (%)")],
        rows,
        _("Cases opened in the period; the cause is recorded on resolving."),
    )


def times(cases: QuerySet[Case], period: Period) -> Table:
    """Acknowledgement and resolution times (wall-clock hours) per unit: median and p90."""
    opened = opened_in(cases, period).order_by()
    data = list(opened.values_list("unit__name", "opened_at", "acknowledged_at", "resolved_at"))
    rows: list[list[Any]] = []
    if data:
        units = np.array([d[0] for d in data], dtype=object)
        opened_at = _column([d[1] for d in data])
        ack = _column([d[2] for d in data])
        resolved = _column([d[3] for d in data])
        for name in [None, *sorted(set(units.tolist()))]:
            mask = np.ones(len(units), bool) if name is None else units == name
            n_a, med_a, p90_a = _stats(_hours(ack[mask], opened_at[mask]))
            n_r, med_r, p90_r = _stats(_hours(resolved[mask], opened_at[mask]))
            rows.append(
                [str(_("All")) if name is None else name, n_a, med_a, p90_a, n_r, med_r, p90_r]
            )
    return Table(
        "times",
        _("Acknowledgement and resolution times (hours)"),
        [
            _("Unit"),
            _("Acknowledged"),
            _("Median to acknowledge"),
            _("p90 to acknowledge"),
            _("Resolved"),
            _("Median to resolve"),
            _("p90 to resolve"),
        ],
        rows,
        _("Cases opened in the period; clock hours from opening."),
    )


def sla(cases: QuerySet[Case], period: Period) -> Table:
    """Per target: met, missed, still running, and attainment (met / decided)."""
    opened = opened_in(cases, period).order_by()
    done = {"ack": "acknowledged_at", "response": "first_response_at", "resolve": "resolved_at"}
    aggregates: dict[str, Any] = {}
    for target in clocks.TARGETS:
        breached = f"{target}_breached_at"
        aggregates[f"{target}_missed"] = Count("id", filter=Q(**{f"{breached}__isnull": False}))
        aggregates[f"{target}_met"] = Count(
            "id",
            filter=Q(**{f"{breached}__isnull": True, f"{done[target]}__isnull": False})
            & Q(**{f"{target}_due_at__isnull": False}),
        )
        aggregates[f"{target}_all"] = Count("id", filter=Q(**{f"{target}_due_at__isnull": False}))
    got = opened.aggregate(**aggregates)
    rows = []
    for target in clocks.TARGETS:
        met, missed, every = got[f"{target}_met"], got[f"{target}_missed"], got[f"{target}_all"]
        rows.append(
            [
                str(clocks.LABELS[target]),
                met,
                missed,
                every - met - missed,
                _rate(met, met + missed),
            ]
        )
    return Table(
        "sla",
        _("SLA attainment per target"),
        [_("Target"), _("Met"), _("Missed"), _("Running"), _("Attainment (%)")],
        rows,
        _("Cases opened in the period with that target."),
    )


def first_contact(cases: QuerySet[Case], period: Period) -> Table:
    """Resolved in the period without a transfer and without being reopened, per unit."""
    resolved = cases.filter(resolved_at__gte=period.start, resolved_at__lt=period.end).order_by()
    rows = [
        [r["unit__name"], r["n"], r["fcr"], _rate(r["fcr"], r["n"])]
        for r in resolved.values("unit__name")
        .annotate(n=Count("id"), fcr=Count("id", filter=Q(transfer_count=0, reopen_count=0)))
        .order_by("unit__name")
    ]
    total = resolved.aggregate(
        n=Count("id"), fcr=Count("id", filter=Q(transfer_count=0, reopen_count=0))
    )
    rows.insert(0, [str(_("All")), total["n"], total["fcr"], _rate(total["fcr"], total["n"])])
    return Table(
        "fcr",
        _("First-contact resolution"),
        [_("Unit"), _("Resolved"), _("First contact"), _("Rate (%)")],
        rows,
        _("Resolved by the first owner, never reopened."),
    )


def _transfers(cases: QuerySet[Case], period: Period) -> QuerySet[Transfer]:
    return Transfer.objects.filter(
        at__gte=period.start, at__lt=period.end, case__in=cases.values("pk")
    ).order_by()


def transfers_by_unit(cases: QuerySet[Case], period: Period) -> Table:
    """Transfers away from a unit against the cases it opened in the period."""
    away = dict(_transfers(cases, period).values_list("from_unit__name").annotate(n=Count("id")))
    opened = dict(
        opened_in(cases, period).order_by().values_list("unit__name").annotate(n=Count("id"))
    )
    names = sorted(set(away) | set(opened))
    rows = [
        [
            n,
            opened.get(n, 0),
            away.get(n, 0),
            _rate(away.get(n, 0), opened.get(n, 0) + away.get(n, 0)),
        ]
        for n in names
    ]  # noqa: E501
    return Table(
        "transfers_unit",
        _("Transfer rate per unit"),
        [_("Unit"), _("Cases opened (still there)"), _("Transferred away"), _("Rate (%)")],
        rows,
        _("Every transfer passes the customer on: a cost (R7)."),
    )


def transfers_by_person(cases: QuerySet[Case], period: Period) -> Table:
    """Transfers away from each person against the cases they handled (kept + passed on)."""
    away = dict(
        _transfers(cases, period).values_list("from_staff__display_name").annotate(n=Count("id"))
    )
    kept = dict(
        opened_in(cases, period)
        .order_by()
        .values_list("owner__display_name")
        .annotate(n=Count("id"))
    )
    names = sorted(set(away) | set(kept))
    rows = [
        [
            n,
            kept.get(n, 0) + away.get(n, 0),
            away.get(n, 0),
            _rate(away.get(n, 0), kept.get(n, 0) + away.get(n, 0)),
        ]  # noqa: E501
        for n in names
    ]
    rows.sort(key=lambda r: (-(r[3] or 0), r[0]))
    return Table(
        "transfers_person",
        _("Transfer rate per person"),
        [_("Person"), _("Cases handled"), _("Passed on"), _("Rate (%)")],
        rows,
    )


def approvals(cases: QuerySet[Case], period: Period) -> Table:
    """Approval requests decided in the period: counts by decision and the turnaround."""
    qs = ApprovalRequest.objects.filter(
        remedy__case__in=cases.values("pk"),
        decided_at__gte=period.start,
        decided_at__lt=period.end,
    ).order_by()
    data = list(qs.values_list("decision", "requested_at", "decided_at"))
    decisions = np.array([d[0] for d in data], dtype=object)
    requested, decided = _column([d[1] for d in data]), _column([d[2] for d in data])
    rows = []
    for decision, label in [("", _("All")), *ApprovalRequest.Decision.choices]:
        if decision == ApprovalRequest.Decision.PENDING:
            continue
        mask = np.ones(len(data), bool) if not decision else decisions == decision
        n, median, p90 = _stats(_hours(decided[mask], requested[mask]))
        rows.append([str(label), n, median, p90])
    pending = ApprovalRequest.objects.filter(
        remedy__case__in=cases.values("pk"), decision=ApprovalRequest.Decision.PENDING
    ).count()
    return Table(
        "approvals",
        _("Approval turnaround (hours)"),
        [_("Decision"), _("Requests"), _("Median"), _("p90")],
        rows,
        _("%(n)d requests are waiting now.") % {"n": pending},
    )


def recovery(cases: QuerySet[Case], period: Period) -> Table:
    """Of cases closed in the period that began with a detractor answer: re-surveyed, answered,
    and recovered (passive or promoter on the recovery survey)."""
    closed = cases.filter(closed_at__gte=period.start, closed_at__lt=period.end).order_by()
    detractors = closed.filter(response__nps_class="detractor")
    got = detractors.aggregate(
        closed=Count("id"),
        surveyed=Count("id", filter=Q(recovery_invitation__isnull=False)),
        answered=Count("id", filter=Q(recovery_response__completed_at__isnull=False)),
        recovered=Count("id", filter=Q(recovery_response__nps_class__in=["passive", "promoter"])),
        promoters=Count("id", filter=Q(recovery_response__nps_class="promoter")),
    )
    row = [
        got["closed"],
        got["surveyed"],
        got["answered"],
        got["recovered"],
        got["promoters"],
        _rate(got["recovered"], got["answered"]),
    ]
    return Table(
        "recovery",
        _("Recovery rate"),
        [
            _("Detractor cases closed"),
            _("Re-surveyed"),
            _("Answered"),
            _("Recovered (passive or promoter)"),
            _("Now promoters"),
            _("Recovery rate (%)"),
        ],
        [row],
        _("Recovery rate: recovered / answered re-surveys."),
    )


def trend(cases: QuerySet[Case], period: Period) -> Table:
    """Cases opened per week (in the enterprise's time zone), by source."""
    opened = opened_in(cases, period).order_by()
    weekly = (
        opened.annotate(week=TruncWeek("opened_at", tzinfo=period.tz))
        .values("week", "source")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    sources = dict(Case.Source.choices)
    by_week: dict[dt.date, dict[str, int]] = {}
    for r in weekly:
        week = r["week"].date() if isinstance(r["week"], dt.datetime) else r["week"]
        by_week.setdefault(week, {})[r["source"]] = r["n"]
    rows = [
        [week.isoformat(), sum(counts.values()), *(counts.get(s, 0) for s in sources)]
        for week, counts in sorted(by_week.items())
    ]
    return Table(
        "trend",
        _("Complaint trend (cases opened per week)"),
        [_("Week of"), _("All"), *(str(label) for label in sources.values())],
        rows,
    )


BUILDERS = {
    "volume": volume_by_cause,
    "times": times,
    "sla": sla,
    "fcr": first_contact,
    "transfers_unit": transfers_by_unit,
    "transfers_person": transfers_by_person,
    "approvals": approvals,
    "recovery": recovery,
    "trend": trend,
}


def build(key: str, cases: QuerySet[Case], period: Period) -> Table:
    return BUILDERS[key](cases, period)


def build_all(cases: QuerySet[Case], period: Period) -> list[Table]:
    return [fn(cases, period) for fn in BUILDERS.values()]


def scope(cases: QuerySet[Case], unit_path: str) -> QuerySet[Case]:
    """The cases of a unit's subtree."""
    return cases.filter(unit__path__startswith=unit_path) if unit_path else cases
