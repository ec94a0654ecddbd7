"""A survey's results: the invitation funnel, each score with its 95% interval, the distribution of
every question, results by unit, and the open-text answers — the numbers behind the results page,
its CSV export and `GET /api/v1/surveys/{id}/results`, so all three always agree.

Built for big data: every number comes out of a fixed handful of GROUP BY queries whatever the
number of responses (no ORM object per response or answer); Python only folds the grouped rows
and computes the intervals (rapport.surveys.stats). Filters: the caller's visible subtree
(rapport.org.scoping.unit_path), a unit subtree, a period of completion, and a segment (the
response's language or channel, or a customer attribute).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from rapport.customers.models import AttributeDefinition
from rapport.org.models import OrgUnit
from rapport.surveys import questions as q
from rapport.surveys import scoring, stats
from rapport.surveys.models import Answer, Invitation, Question, Response, Survey

# Invitations made for imported responses carry this instead of a token hash: the key that makes
# an import idempotent (rapport.surveys.ingest). Such a link can never be answered (no SHA-256 hex
# digest starts with it), and the funnel leaves these invitations out: we never sent them.
IMPORTED_PREFIX = "ext-"
OPEN_TEXT_PAGE = 25
S = Invitation.Status


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which responses count. `unit` is a unit code (its subtree); `since`/`until` bound the
    completion time (until exclusive); `attribute`/`value` a customer attribute."""

    unit: str = ""
    unit_path: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    language: str = ""
    channel: str = ""
    attribute: str = ""
    value: Any = None

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (for links, the CSV export and paging)."""
        out = {
            "unit": self.unit,
            "from": self.since.date().isoformat() if self.since else "",
            "to": (self.until - dt.timedelta(days=1)).date().isoformat() if self.until else "",
            "language": self.language,
            "channel": self.channel,
            "attribute": self.attribute,
            "value": "" if self.value is None else str(self.value),
        }
        return {k: v for k, v in out.items() if v}


def enterprise_tz() -> zoneinfo.ZoneInfo:
    root = OrgUnit.enterprise()
    return zoneinfo.ZoneInfo(root.time_zone if root else settings.RAPPORT_DEFAULT_TIME_ZONE)


def _instant(text: str, end: bool, tz: dt.tzinfo) -> dt.datetime | None:
    """A date (its midnight; for `end` the next one, so the day is included) or a date-time."""
    try:
        day = parse_date(text) if len(text) == 10 else None
        at = None if day else parse_datetime(text)
    except ValueError:
        return None
    if day is not None:
        at = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=tz)


def parse_filters(params: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
    """Filters from query parameters (unit, from, to, language, channel, attribute, value), and
    a message per parameter that could not be used (that filter is then left out)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    unit = (params.get("unit") or "").strip()
    if unit:
        path = OrgUnit.objects.filter(code=unit).values_list("path", flat=True).first()
        if path is None:
            errors["unit"] = _("No unit with the code %(code)s.") % {"code": unit[:64]}
        else:
            values.update(unit=unit, unit_path=path)
    tz = enterprise_tz()
    for name, end in (("from", False), ("to", True)):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        at = _instant(text, end, tz)
        if at is None:
            errors[name] = _("Not a date: %(value)s (use YYYY-MM-DD).") % {"value": text[:40]}
        else:
            values["until" if end else "since"] = at
    language = (params.get("language") or "").strip().lower()
    if language:
        if language in q.LANGUAGES:
            values["language"] = language
        else:
            errors["language"] = _("Unknown language %(value)s.") % {"value": language[:16]}
    channel = (params.get("channel") or "").strip()
    if channel:
        if channel in Invitation.Channel.values:
            values["channel"] = channel
        else:
            errors["channel"] = _("Unknown channel %(value)s.") % {"value": channel[:16]}
    attribute = (params.get("attribute") or "").strip()
    if attribute:
        kind = AttributeDefinition.objects.filter(name=attribute).values_list("type", flat=True)
        found = kind.first()
        raw = (params.get("value") or "").strip()
        if found is None:
            errors["attribute"] = _("Unknown customer attribute %(name)s.") % {
                "name": attribute[:64]
            }
        elif not raw:
            errors["value"] = _("Give the attribute's value to compare with.")
        else:
            typed = _attribute_value(found, raw)
            if typed is None:
                errors["value"] = _("%(value)s is not a valid %(type)s.") % {
                    "value": raw[:40],
                    "type": found,
                }
            else:
                values.update(attribute=attribute, value=typed)
    return Filters(**values), errors


def _attribute_value(kind: str, raw: str) -> Any:
    """The value as the customer's attributes JSON holds it for an attribute of this type."""
    if kind == AttributeDefinition.Type.INTEGER:
        try:
            return int(raw)
        except ValueError:
            return None
    if kind == AttributeDefinition.Type.BOOLEAN:
        lowered = raw.lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
        return None
    return raw


def response_q(filters: Filters, visible_path: str, prefix: str = "") -> Q:
    """The conditions on a completed response (fields reached through `prefix`)."""
    p = prefix
    cond = Q(**{f"{p}state": Response.State.COMPLETED})
    if visible_path:
        cond &= Q(**{f"{p}unit__path__startswith": visible_path})
    if filters.unit_path:
        cond &= Q(**{f"{p}unit__path__startswith": filters.unit_path})
    if filters.since:
        cond &= Q(**{f"{p}completed_at__gte": filters.since})
    if filters.until:
        cond &= Q(**{f"{p}completed_at__lt": filters.until})
    if filters.language:
        cond &= Q(**{f"{p}language": filters.language})
    if filters.channel:
        cond &= Q(**{f"{p}channel": filters.channel})
    if filters.attribute:
        cond &= Q(**{f"{p}customer__attributes__{filters.attribute}": filters.value})
    return cond


def responses(survey_id: int, filters: Filters, visible_path: str) -> QuerySet[Response]:
    return Response.objects.filter(response_q(filters, visible_path), survey_id=survey_id)


# --- the funnel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Invitations that reached each stage (a later stage implies the earlier ones)."""

    invited: int = 0
    scheduled: int = 0
    sent: int = 0
    opened: int = 0
    started: int = 0
    completed: int = 0
    bounced: int = 0
    expired: int = 0
    suppressed: int = 0

    @property
    def response_rate(self) -> float | None:
        return self.completed / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "response_rate": self.response_rate}


def _reached(*statuses: str, stamp: str) -> Q:
    return Q(status__in=statuses) | Q(**{f"{stamp}__isnull": False})


FUNNEL_COUNTS = {
    "invited": Count("id"),
    "scheduled": Count("id", filter=Q(status=S.SCHEDULED)),
    "sent": Count("id", filter=_reached(S.SENT, S.OPENED, S.STARTED, S.COMPLETED, stamp="sent_at")),
    "opened": Count("id", filter=_reached(S.OPENED, S.STARTED, S.COMPLETED, stamp="opened_at")),
    "started": Count("id", filter=_reached(S.STARTED, S.COMPLETED, stamp="started_at")),
    "completed": Count("id", filter=Q(status=S.COMPLETED)),
    "bounced": Count("id", filter=Q(status=S.BOUNCED)),
    "expired": Count("id", filter=Q(status=S.EXPIRED)),
    "suppressed": Count("id", filter=Q(status=S.SUPPRESSED)),
}


def funnels(
    survey_ids: Iterable[int], visible_path: str, filters: Filters | None = None
) -> dict[int, Funnel]:
    """The funnel of each survey, in one GROUP BY query; invitations made for imported
    responses do not count. A unit filter keeps the invitations of the subtree, a period those
    created in it."""
    qs = Invitation.objects.filter(survey_id__in=list(survey_ids)).exclude(
        token_hash__startswith=IMPORTED_PREFIX
    )
    for path in (visible_path, filters.unit_path if filters else ""):
        if path:
            qs = qs.filter(unit__path__startswith=path)
    if filters and filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters and filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    if filters and filters.channel:
        qs = qs.filter(channel=filters.channel)
    rows = qs.values("survey_id").annotate(**FUNNEL_COUNTS).order_by()
    return {row.pop("survey_id"): Funnel(**row) for row in rows}


# --- scores -----------------------------------------------------------------------------------


def _squares(name: str) -> Sum:
    value = Cast(name, FloatField())
    return Sum(value * value)


SCORE_SUMS = {
    "n": Count("id"),
    "promoters": Count("id", filter=Q(nps_class=Response.NpsClass.PROMOTER)),
    "passives": Count("id", filter=Q(nps_class=Response.NpsClass.PASSIVE)),
    "detractors": Count("id", filter=Q(nps_class=Response.NpsClass.DETRACTOR)),
    "csat_n": Count("csat"),
    "csat_top2": Count("id", filter=Q(csat_top2=True)),
    "ces_n": Count("ces"),
    "ces_sum": Sum(Cast("ces", FloatField())),
    "ces_sq": _squares("ces"),
    "ces_easy": Count("id", filter=Q(ces__gte=5)),
    "csi_n": Count("csi_index"),
    "csi_sum": Sum("csi_index"),
    "csi_sq": _squares("csi_index"),
    "loyalty_n": Count("loyalty"),
    "loyalty_sum": Sum("loyalty"),
    "loyalty_sq": _squares("loyalty"),
    "attachment_n": Count("attachment"),
    "attachment_sum": Sum("attachment"),
    "attachment_sq": _squares("attachment"),
    **{f"tier_{t}": Count("id", filter=Q(tier=t)) for t in scoring.TIERS},
}


@lru_cache(maxsize=4096)
def _t95(df: int) -> float:
    return stats.t_quantile(0.975, df)


def mean_from_sums(n: int, total: float | None, squares: float | None) -> stats.Interval | None:
    """stats.mean_interval from the count, sum and sum of squares SQL gives (no value list)."""
    if not n:
        return None
    mean = (total or 0.0) / n
    if n == 1:
        return stats.Interval(mean, mean, mean, 1, True)
    variance = max(((squares or 0.0) - n * mean * mean) / (n - 1), 0.0)
    half = _t95(n - 1) * math.sqrt(variance / n)
    return stats.Interval(mean, mean - half, mean + half, n, n < stats.SMALL_SAMPLE)


@dataclass(frozen=True)
class Score:
    key: str  # nps, csat, ces, ces_easy, csi, loyalty, attachment, tier.<name>
    label: str
    interval: stats.Interval
    kind: str  # "points" (−100…100), "share" (0–1), "mean" (scale), "index" (0–1000)

    def as_dict(self) -> dict[str, Any]:
        i = self.interval
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "estimate": i.estimate,
            "low": i.low,
            "high": i.high,
            "n": i.n,
            "small_sample": i.small_sample,
        }


def score_labels() -> dict[str, str]:
    labels = {
        "nps": _("Net Promoter Score"),
        "csat": _("CSAT (share of 4–5)"),
        "ces": _("Customer effort (mean, 1–7)"),
        "ces_easy": _("Customer effort (share of 5–7)"),
        "csi": _("CSI index (0–1000)"),
        "loyalty": _("Engagement: loyalty (mean, 1–5)"),
        "attachment": _("Engagement: attachment (mean, 1–5)"),
    }
    labels.update({f"tier.{t}": label for t, label in Response.Tier.choices})
    return labels


def scores_from(row: Mapping[str, Any]) -> list[Score]:
    """The scores of one group of responses from its SCORE_SUMS row; those without answers
    are left out, small samples are kept (each interval says so)."""
    labels = score_labels()
    found: list[tuple[str, str, stats.Interval | None]] = [
        ("nps", "points", stats.nps_interval(row["promoters"], row["passives"], row["detractors"])),
        ("csat", "share", stats.wilson_interval(row["csat_top2"], row["csat_n"])),
        ("ces", "mean", mean_from_sums(row["ces_n"], row["ces_sum"], row["ces_sq"])),
        ("ces_easy", "share", stats.wilson_interval(row["ces_easy"], row["ces_n"])),
        ("csi", "index", mean_from_sums(row["csi_n"], row["csi_sum"], row["csi_sq"])),
        (
            "loyalty",
            "mean",
            mean_from_sums(row["loyalty_n"], row["loyalty_sum"], row["loyalty_sq"]),
        ),
        (
            "attachment",
            "mean",
            mean_from_sums(row["attachment_n"], row["attachment_sum"], row["attachment_sq"]),
        ),
    ]
    tiered = sum(row[f"tier_{t}"] for t in scoring.TIERS)
    found += [
        (f"tier.{t}", "share", stats.wilson_interval(row[f"tier_{t}"], tiered))
        for t in scoring.TIERS
    ]
    return [Score(key, labels[key], i, kind) for key, kind, i in found if i is not None]


# --- distributions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    value: str
    label: str
    count: int
    share: float  # of the question's respondents


@dataclass(frozen=True)
class Distribution:
    key: str
    text: str
    type: str
    role: str
    n: int  # respondents who answered
    bars: list[Bar]
    mean: stats.Interval | None  # scales and yes/no

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in {"bars", "mean"}}
        out["bars"] = [asdict(b) for b in self.bars]
        out["mean"] = None if self.mean is None else asdict(self.mean)
        return out


@dataclass
class _QuestionInfo:
    """A question key across versions: the newest definition, and every version's id."""

    spec: dict[str, Any]
    ids: list[int] = field(default_factory=list)


def question_keys(survey_id: int) -> dict[str, _QuestionInfo]:
    """The survey's questions by key, in the newest version's order (one query)."""
    rows = Question.objects.filter(version__survey_id=survey_id).values(
        "id", "key", "type", "texts", "options", "scale_min", "scale_max", "role", "page",
        "order", "version__number",
    )  # fmt: skip
    info: dict[str, _QuestionInfo] = {}
    for row in sorted(rows, key=lambda r: -r["version__number"]):
        entry = info.get(row["key"])
        if entry is None:
            entry = info[row["key"]] = _QuestionInfo(row)
        entry.ids.append(row["id"])
    return dict(
        sorted(
            info.items(),
            key=lambda kv: (
                -kv[1].spec["version__number"],
                kv[1].spec["page"],
                kv[1].spec["order"],
            ),
        )
    )


def _spec(row: Mapping[str, Any]) -> q.QuestionSpec:
    return q.QuestionSpec(
        key=row["key"],
        type=row["type"],
        texts=row["texts"] or {},
        options=q.options_from_list(row["options"]),
        scale_min=row["scale_min"],
        scale_max=row["scale_max"],
        role=row["role"],
    )


def distributions(
    survey_id: int,
    filters: Filters,
    visible_path: str,
    keys: Mapping[str, _QuestionInfo],
    language: str,
) -> list[Distribution]:
    """Counts per answer value of every closed question, from one GROUP BY over the answers."""
    key_of = {i: key for key, info in keys.items() for i in info.ids if info.spec["type"] != q.TEXT}
    counts: dict[str, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    if key_of:
        rows = (
            Answer.objects.filter(response_q(filters, visible_path, "response__"))
            .filter(response__survey_id=survey_id, question_id__in=list(key_of))
            .values_list("question_id", "value_number", "value_text", "value_choices")
            .annotate(n=Count("id"))
            .order_by()
        )
        for question_id, number, text, choices, n in rows:
            if choices is not None:
                value: Any = tuple(choices)
            else:
                value = number if number is not None else text
            counts[key_of[question_id]][value] += n
    return [
        _distribution(_spec(info.spec), counts.get(key, {}), language)
        for key, info in keys.items()
        if info.spec["type"] != q.TEXT
    ]


def _distribution(spec: q.QuestionSpec, counts: Mapping[Any, int], language: str) -> Distribution:
    n = sum(counts.values())
    pairs: list[tuple[str, str, int]]
    mean = None
    if spec.type in q.SCALE_TYPES and spec.type != q.AGREEMENT or spec.type == q.YES_NO:
        if spec.type == q.YES_NO:
            pairs = [("1", _("Yes"), counts.get(1, 0)), ("0", _("No"), counts.get(0, 0))]
        else:
            low, high = spec.bounds()
            pairs = [(str(v), str(v), counts.get(v, 0)) for v in range(low, high + 1)]
    elif spec.type == q.AGREEMENT:
        labels = {o.value: o.label(language) for o in spec.options}
        low, high = spec.bounds()
        pairs = [
            (str(v), labels.get(str(v), str(v)), counts.get(v, 0)) for v in range(low, high + 1)
        ]
    elif spec.type == q.MULTIPLE_CHOICE:
        per_option: dict[str, int] = defaultdict(int)
        for combo, c in counts.items():
            for value in combo if isinstance(combo, tuple) else ():
                per_option[str(value)] += c
        pairs = [(o.value, o.label(language), per_option.get(o.value, 0)) for o in spec.options]
    else:  # single choice: the options, then any value no longer offered
        pairs = [(o.value, o.label(language), counts.get(o.value, 0)) for o in spec.options]
        offered = set(spec.option_values())
        pairs += [(str(v), str(v), c) for v, c in counts.items() if str(v) not in offered]
    if spec.type in q.NUMERIC_TYPES and n:
        numeric = [(int(v), c) for v, _label, c in pairs]
        total = sum(v * c for v, c in numeric)
        squares = sum(v * v * c for v, c in numeric)
        mean = mean_from_sums(n, float(total), float(squares))
    bars = [Bar(v, label, c, c / n if n else 0.0) for v, label, c in pairs]
    return Distribution(spec.key, spec.text(language), spec.type, spec.role, n, bars, mean)


def csi_factors(dists: Sequence[Distribution]) -> list[tuple[str, float, int]]:
    """(factor, score 0–1000, item answers) per CSI factor, from its items' pooled answers."""
    low, high = scoring.CSI_SCALE
    out = []
    for factor in scoring.CSI_FACTORS:
        items = [d for d in dists if d.role == f"csi.{factor}" and d.mean is not None]
        n = sum(d.n for d in items)
        if n:
            mean = sum(d.mean.estimate * d.n for d in items if d.mean) / n
            out.append((factor, 1000.0 * (mean - low) / (high - low), n))
    return out


# --- by unit ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    unit_id: int | None
    code: str
    name: str
    scores: dict[str, Score]
    n: int


def by_unit(
    survey_id: int, filters: Filters, visible_path: str, units: Sequence[Mapping[str, Any]]
) -> list[UnitRow]:
    """The scores per unit one level below the filter's unit (or the caller's, or the top),
    rolled up from one GROUP BY unit query: each row is a whole subtree."""
    base = filters.unit_path or visible_path
    by_path = {u["path"]: u for u in units}
    root = by_path.get(base) if base else next((u for u in units if u["parent_id"] is None), None)
    if root is None:
        return []
    children = sorted(
        (u for u in units if u["parent_id"] == root["id"]), key=lambda u: u["name"].lower()
    )
    path_of = {u["id"]: u["path"] for u in units}
    rows = (
        responses(survey_id, filters, visible_path)
        .values("unit_id")
        .annotate(**SCORE_SUMS)
        .order_by()
    )
    groups: dict[int | None, dict[str, float]] = {}
    for row in rows:
        unit_path = path_of.get(row["unit_id"], "")
        owner = next((c["id"] for c in children if unit_path.startswith(c["path"])), None)
        if owner is None and unit_path.startswith(root["path"]):
            owner = root["id"]
        group = groups.setdefault(owner, dict.fromkeys(SCORE_SUMS, 0))
        for name in SCORE_SUMS:
            group[name] += row[name] or 0
    out = []
    for unit in [*children, root, None]:
        ident = unit["id"] if unit else None
        if ident not in groups:
            continue
        group = groups[ident]
        name = unit["name"] if unit else _("No unit")
        if unit is root and children:
            name = _("%(unit)s itself") % {"unit": unit["name"]}
        out.append(
            UnitRow(
                ident,
                unit["code"] if unit else "",
                name,
                {s.key: s for s in scores_from(group)},
                int(group["n"]),
            )
        )
    return out


# --- everything for one survey ----------------------------------------------------------------


@dataclass
class SurveyResults:
    survey: Survey
    filters: Filters
    funnel: Funnel
    n: int
    scores: list[Score]
    distributions: list[Distribution]
    factors: list[tuple[str, float, int]]
    units: list[UnitRow]
    text_questions: list[tuple[str, str, list[int]]]  # (key, text, question ids)

    def as_dict(self) -> dict[str, Any]:
        """The JSON of GET /api/v1/surveys/{id}/results."""
        return {
            "survey": {"id": self.survey.pk, "name": self.survey.name, "kind": self.survey.kind},
            "filters": self.filters.query(),
            "funnel": self.funnel.as_dict(),
            "responses": self.n,
            "scores": [s.as_dict() for s in self.scores],
            "csi_factors": [
                {"factor": f, "score": score, "answers": n} for f, score, n in self.factors
            ],
            "questions": [d.as_dict() for d in self.distributions],
            "units": [
                {
                    "unit": u.code or None,
                    "name": u.name,
                    "responses": u.n,
                    "scores": [s.as_dict() for s in u.scores.values()],
                }
                for u in self.units
            ],
        }


def unit_rows() -> list[dict[str, Any]]:
    return list(OrgUnit.objects.values("id", "code", "name", "path", "parent_id", "kind"))


def survey_results(
    survey: Survey,
    filters: Filters,
    visible_path: str,
    language: str,
    units: Sequence[Mapping[str, Any]] | None = None,
) -> SurveyResults:
    """Every number of the results page: six queries (five when `units` are given)."""
    keys = question_keys(survey.pk)
    totals = responses(survey.pk, filters, visible_path).aggregate(**SCORE_SUMS)
    dists = distributions(survey.pk, filters, visible_path, keys, language)
    return SurveyResults(
        survey=survey,
        filters=filters,
        funnel=funnels([survey.pk], visible_path, filters).get(survey.pk, Funnel()),
        n=int(totals["n"]),
        scores=scores_from({k: v or 0 for k, v in totals.items()}),
        distributions=dists,
        factors=csi_factors(dists),
        units=by_unit(
            survey.pk, filters, visible_path, units if units is not None else unit_rows()
        ),
        text_questions=[
            (key, _spec(info.spec).text(language), info.ids)
            for key, info in keys.items()
            if info.spec["type"] == q.TEXT
        ],
    )


def open_text(
    survey_id: int,
    filters: Filters,
    visible_path: str,
    question_ids: Sequence[int],
) -> QuerySet[Answer]:
    """The open-text answers, newest first, as plain rows (paginate the queryset)."""
    return (
        Answer.objects.filter(response_q(filters, visible_path, "response__"))
        .filter(response__survey_id=survey_id, question_id__in=list(question_ids))
        .exclude(value_text="")
        .order_by("-response__completed_at", "-id")
        .values(
            "id",
            "value_text",
            "question__key",
            "response_id",
            "response__completed_at",
            "response__language",
            "response__channel",
            unit_name=F("response__unit__name"),
        )
    )
