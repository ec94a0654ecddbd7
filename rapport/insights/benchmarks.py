"""Benchmarks: our engagement mix (and NPS) against a built-in reference and competitors' figures.

The built-in reference is Gallup's published split of customers into fully engaged / engaged /
indifferent / actively disengaged: world-class companies 48/26/20/6%, average companies
19/24/34/23% (as quoted in seed 000, Business Weekly Taiwan). Gallup does not publish the cut-offs
of its tiers; ours (rapport.surveys.scoring.DEFAULT_TIER_RULES) are our approximation, and every
comparison says so.

Competitors' figures are what users enter (rapport.insights.models.CompetitorBenchmark): name,
period, source and, when known, the number of respondents n. With n, the fully-engaged share is
tested against ours (two-proportion z test); without it, only the difference is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from rapport.insights import measures
from rapport.surveys import scoring, stats


@dataclass(frozen=True)
class Reference:
    key: str
    label: str
    source: str
    shares: Mapping[str, float]  # tier → share 0–1


GALLUP_SOURCE = _(
    "Gallup customer-engagement research, as quoted in Business Weekly (Taiwan): "
    "“CEM grips customers better than CRM”"
)
GALLUP_WORLD_CLASS = Reference(
    "gallup_world_class",
    _("World-class companies (Gallup)"),
    GALLUP_SOURCE,
    {
        scoring.FULLY_ENGAGED: 0.48,
        scoring.ENGAGED: 0.26,
        scoring.INDIFFERENT: 0.20,
        scoring.ACTIVELY_DISENGAGED: 0.06,
    },
)
GALLUP_AVERAGE = Reference(
    "gallup_average",
    _("Average companies (Gallup)"),
    GALLUP_SOURCE,
    {
        scoring.FULLY_ENGAGED: 0.19,
        scoring.ENGAGED: 0.24,
        scoring.INDIFFERENT: 0.34,
        scoring.ACTIVELY_DISENGAGED: 0.23,
    },
)
REFERENCES = (GALLUP_WORLD_CLASS, GALLUP_AVERAGE)
OUR_TIERS_LABEL = _(
    "Our tiers are Rapport's approximation of Gallup's (Gallup does not publish its cut-offs)"
)


@dataclass(frozen=True)
class TierComparison:
    tier: str
    ours: stats.Interval | None
    reference: float
    difference: float | None  # ours − reference
    reference_outside_interval: bool


def compare_mix(counts: Mapping[str, int], reference: Reference) -> list[TierComparison]:
    """Our share of each tier (Wilson interval) against a reference split."""
    n = sum(counts.get(t, 0) for t in scoring.TIERS)
    out = []
    for tier in scoring.TIERS:
        ours = stats.wilson_interval(counts.get(tier, 0), n)
        ref = reference.shares[tier]
        out.append(
            TierComparison(
                tier=tier,
                ours=ours,
                reference=ref,
                difference=None if ours is None else ours.estimate - ref,
                reference_outside_interval=ours is not None and not ours.low <= ref <= ours.high,
            )
        )
    return out


@dataclass(frozen=True)
class CompetitorComparison:
    name: str
    period: str
    source: str
    fully_engaged: float | None
    fully_engaged_difference: float | None  # ours − theirs
    fully_engaged_test: measures.Change | None  # only when they give n
    nps: float | None
    nps_difference: float | None


def compare_competitor(
    our_counts: Mapping[str, int],
    our_nps: stats.Interval | None,
    competitor: Mapping[str, object],
) -> CompetitorComparison:
    """Ours against one competitor's entered figures (a dict of CompetitorBenchmark fields)."""
    n_ours = sum(our_counts.get(t, 0) for t in scoring.TIERS)
    ours_fe = our_counts.get(scoring.FULLY_ENGAGED, 0)
    theirs = competitor.get("fully_engaged")
    their_n = competitor.get("n")
    test = None
    if theirs is not None and their_n and n_ours:
        test = measures.proportion_change(
            (round(float(theirs) * int(their_n)), int(their_n)), (ours_fe, n_ours)
        )
    their_nps = competitor.get("nps")
    return CompetitorComparison(
        name=str(competitor.get("name", "")),
        period=str(competitor.get("period", "")),
        source=str(competitor.get("source", "")),
        fully_engaged=None if theirs is None else float(theirs),
        fully_engaged_difference=(
            None if theirs is None or not n_ours else ours_fe / n_ours - float(theirs)
        ),
        fully_engaged_test=test,
        nps=None if their_nps is None else float(their_nps),
        nps_difference=(
            None if their_nps is None or our_nps is None else our_nps.estimate - float(their_nps)
        ),
    )
