"""The feedback dashboard's figures: SQL aggregates over the caller's scoped items.

A fixed number of grouped queries whatever the volume (pinned by tests): totals, by channel, by
unit, causes, themes, the weekly trend, top quotes, and the churn-cause mix of customers who
left (a `cancellation` touchpoint, or P(alive) below LOST_P_ALIVE in [insights]).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncWeek

from rapport.feedback.models import CAUSE_LABELS, CHANNELS, FeedbackItem, FeedbackLabel, Theme

LOST_P_ALIVE = 0.2
TOP_QUOTES = 5

_COUNTS = {
    "n": Count("pk"),
    "neg": Count("pk", filter=Q(sentiment="negative")),
    "pos": Count("pk", filter=Q(sentiment="positive")),
    "score": Avg("sentiment_score"),
}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _row(label: Any, key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label,
        "key": key,
        "n": data["n"],
        "neg": data["neg"],
        "pos": data["pos"],
        "neg_share": _share(data["neg"], data["n"]),
        "pos_share": _share(data["pos"], data["n"]),
        "score": data["score"],
    }


@dataclass
class Figures:
    totals: dict[str, Any]
    by_channel: list[dict[str, Any]]
    by_unit: list[dict[str, Any]]
    causes: list[dict[str, Any]]
    themes: list[dict[str, Any]]
    trend: dict[str, Any]
    negative_quotes: list[FeedbackItem]
    positive_quotes: list[FeedbackItem]
    churn_causes: list[dict[str, Any]]
    churned_customers: int


def _labels(qs: QuerySet[FeedbackItem], kind: str) -> list[dict[str, Any]]:
    rows = (
        FeedbackLabel.objects.filter(kind=kind, item__in=qs.values("pk"))
        .values("key")
        .annotate(n=Count("pk"), neg=Count("pk", filter=Q(item__sentiment="negative")))
        .order_by("-n", "key")
    )
    return list(rows)


def figures(qs: QuerySet[FeedbackItem], tz: dt.tzinfo) -> Figures:
    totals = qs.aggregate(**_COUNTS)
    totals.update(
        neg_share=_share(totals["neg"], totals["n"]), pos_share=_share(totals["pos"], totals["n"])
    )
    by_channel = [
        _row(CHANNELS.get(r["channel"], r["channel"]), r["channel"], r)
        for r in qs.values("channel").annotate(**_COUNTS).order_by("-n", "channel")
    ]
    by_unit = [
        _row(r["unit__name"] or "—", r["unit__code"] or "", r)
        for r in qs.values("unit__code", "unit__name").annotate(**_COUNTS).order_by("-n")
    ]
    causes = _labels(qs, "cause")
    total = totals["n"] or 0
    for c in causes:
        c["label"] = CAUSE_LABELS.get(c["key"], c["key"])
        c["share"] = _share(c["n"], total)
    themes = _labels(qs, "theme")
    names = dict(
        Theme.objects.filter(key__in=[t["key"] for t in themes]).values_list("key", "name")
    )
    for t in themes:
        t["label"] = names.get(t["key"], t["key"])
    weeks = list(
        qs.annotate(week=TruncWeek("received_at", tzinfo=tz))
        .values("week")
        .annotate(**_COUNTS)
        .order_by("week")
    )
    trend = {
        "labels": [w["week"].date().isoformat() for w in weeks if w["week"]],
        "volume": [w["n"] for w in weeks if w["week"]],
        "negative": [w["neg"] for w in weeks if w["week"]],
        "score": [round(w["score"], 3) if w["score"] is not None else None for w in weeks],
    }
    quotes = qs.select_related("unit").only(
        "pk", "text", "title", "received_at", "channel", "sentiment", "severity", "unit__name"
    )
    negative = list(quotes.filter(sentiment="negative").order_by("-severity", "-received_at")[:5])
    positive = list(
        quotes.filter(sentiment="positive").order_by("-sentiment_score", "-received_at")[:5]
    )
    churn, churned = _churn(qs)
    return Figures(
        totals, by_channel, by_unit, causes, themes, trend, negative, positive, churn, churned
    )


def _churn(qs: QuerySet[FeedbackItem]) -> tuple[list[dict[str, Any]], int]:
    """Causes named in the feedback of customers who left, counted per customer."""
    from rapport.touchpoints.models import Touchpoint

    left = Q(customer__in=Touchpoint.objects.filter(kind="cancellation").values("customer_id")) | Q(
        customer__insight__p_alive__lt=LOST_P_ALIVE
    )
    items = qs.filter(left, customer__isnull=False)
    rows = list(
        FeedbackLabel.objects.filter(kind="cause", item__in=items.values("pk"))
        .values("key")
        .annotate(n=Count("item__customer", distinct=True))
        .order_by("-n", "key")
    )
    customers = sum(r["n"] for r in rows)
    for r in rows:
        r["label"] = CAUSE_LABELS.get(r["key"], r["key"])
        r["share"] = _share(r["n"], customers)
    return rows, customers
