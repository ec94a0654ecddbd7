"""Scores: per response (NPS class, CSAT, CES, engagement sub-scores and tier, CSI index) and
per group (NPS, CSAT share, CES mean).

Plain code, no ORM. A question carries a *role* (e.g. "csat", "eng.pride", "csi.service_advisor")
that says what it measures, so a manager can reword or translate it without breaking its score.
The rules below are documented in docs/guide/surveys.md; the engagement tiers and the CSI weights
can be changed through the RAPPORT_ENGAGEMENT_TIERS and RAPPORT_CSI_WEIGHTS settings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ROLE_NPS = "nps"
ROLE_CSAT = "csat"
ROLE_CES = "ces"
LOYALTY_ROLES = ("eng.satisfaction", "eng.continue", "eng.recommend")
ATTACHMENT_DIMENSIONS = ("confidence", "integrity", "pride", "passion")
ATTACHMENT_ROLES = tuple(f"eng.{d}" for d in ATTACHMENT_DIMENSIONS)
CSI_FACTORS = (
    "service_initiation",
    "service_advisor",
    "service_facility",
    "vehicle_pickup",
    "service_quality",
)

PROMOTER, PASSIVE, DETRACTOR = "promoter", "passive", "detractor"
FULLY_ENGAGED, ENGAGED = "fully_engaged", "engaged"
INDIFFERENT, ACTIVELY_DISENGAGED = "indifferent", "actively_disengaged"
TIERS = (FULLY_ENGAGED, ENGAGED, INDIFFERENT, ACTIVELY_DISENGAGED)

# Our approximation of engagement tiers (Gallup does not publish its cut-offs). Items are on a
# 1–5 scale; top box = 5, top two = 4–5, bottom two = 1–2. Tiers are tried in this order:
# fully engaged, engaged, actively disengaged; whoever meets none is indifferent.
DEFAULT_TIER_RULES: dict[str, dict[str, float]] = {
    FULLY_ENGAGED: {"loyalty_top_box_min": 3, "attachment_top_box_min": 7},
    ENGAGED: {"loyalty_top2_min": 3, "attachment_top2_min": 6},
    ACTIVELY_DISENGAGED: {"loyalty_mean_max": 2.5, "attachment_bottom2_min": 4},
}

# Our documented default CSI factor weights, after the factor weights JD Power has published for
# its service CSI studies; configurable.
DEFAULT_CSI_WEIGHTS: dict[str, float] = {
    "service_quality": 0.28,
    "service_advisor": 0.23,
    "vehicle_pickup": 0.19,
    "service_facility": 0.17,
    "service_initiation": 0.13,
}
CSI_SCALE = (1, 10)


def nps_class(score: int) -> str:
    """0–6 detractor, 7–8 passive, 9–10 promoter."""
    if not 0 <= score <= 10:
        raise ValueError(f"NPS answer {score} is outside 0–10")
    if score >= 9:
        return PROMOTER
    return PASSIVE if score >= 7 else DETRACTOR


def nps(scores: Iterable[int]) -> float | None:
    """Net Promoter Score, −100…100: % promoters − % detractors; None without answers."""
    classes = [nps_class(s) for s in scores]
    if not classes:
        return None
    return 100.0 * (classes.count(PROMOTER) - classes.count(DETRACTOR)) / len(classes)


def csat(scores: Iterable[int]) -> float | None:
    """CSAT: the share (0–1) of 4s and 5s on a 1–5 scale."""
    values = list(scores)
    if not values:
        return None
    return sum(1 for v in values if v >= 4) / len(values)


def ces(scores: Iterable[int]) -> tuple[float, float] | None:
    """CES 2.0 on 1–7 ("made it easy"): (mean, share of 5–7)."""
    values = list(scores)
    if not values:
        return None
    return sum(values) / len(values), sum(1 for v in values if v >= 5) / len(values)


def engagement_tier(
    loyalty: Sequence[int], attachment: Sequence[int], rules: Mapping[str, Mapping[str, float]]
) -> str:
    """The tier for one respondent's three loyalty and eight attachment answers (1–5)."""
    fully = rules[FULLY_ENGAGED]
    if sum(v == 5 for v in loyalty) >= fully["loyalty_top_box_min"] and (
        sum(v == 5 for v in attachment) >= fully["attachment_top_box_min"]
    ):
        return FULLY_ENGAGED
    engaged = rules[ENGAGED]
    if sum(v >= 4 for v in loyalty) >= engaged["loyalty_top2_min"] and (
        sum(v >= 4 for v in attachment) >= engaged["attachment_top2_min"]
    ):
        return ENGAGED
    dis = rules[ACTIVELY_DISENGAGED]
    if sum(loyalty) / len(loyalty) <= dis["loyalty_mean_max"] or (
        sum(v <= 2 for v in attachment) >= dis["attachment_bottom2_min"]
    ):
        return ACTIVELY_DISENGAGED
    return INDIFFERENT


def csi_index(
    factor_items: Mapping[str, Sequence[int]], weights: Mapping[str, float]
) -> tuple[float | None, dict[str, float]]:
    """(overall index 0–1000, factor scores 0–1000) from 1–10 item answers per factor.

    A factor's score is the mean of its items rescaled linearly so 1 → 0 and 10 → 1000. The index
    is the weighted mean of the answered factors' scores, the weights renormalised over them.
    """
    low, high = CSI_SCALE
    factors = {
        name: 1000.0 * (sum(items) / len(items) - low) / (high - low)
        for name, items in factor_items.items()
        if items
    }
    total = sum(weights.get(f, 0.0) for f in factors)
    if not factors or total <= 0:
        return None, factors
    return sum(weights.get(f, 0.0) * s for f, s in factors.items()) / total, factors


def response_scores(
    answers: Iterable[tuple[str, Any]],
    tier_rules: Mapping[str, Mapping[str, float]] | None = None,
    csi_weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The derived scores of one response from its (role, value) pairs; absent scores are None.

    Returns the keys nps_score, nps_class, csat, csat_top2, ces, loyalty, attachment, tier,
    csi_index and csi_factors.
    """
    by_role: dict[str, list[int]] = defaultdict(list)
    for role, value in answers:
        if role and isinstance(value, int | float) and not isinstance(value, bool):
            by_role[role].append(int(value))
    out: dict[str, Any] = dict.fromkeys(
        ("nps_score", "nps_class", "csat", "csat_top2", "ces", "loyalty", "attachment", "tier"),
        None,
    )
    out["csi_index"], out["csi_factors"] = None, {}
    if by_role.get(ROLE_NPS):
        out["nps_score"] = by_role[ROLE_NPS][0]
        out["nps_class"] = nps_class(out["nps_score"])
    if by_role.get(ROLE_CSAT):
        out["csat"] = by_role[ROLE_CSAT][0]
        out["csat_top2"] = out["csat"] >= 4
    if by_role.get(ROLE_CES):
        out["ces"] = by_role[ROLE_CES][0]
    loyalty = [v for r in LOYALTY_ROLES for v in by_role.get(r, [])]
    attachment = [v for r in ATTACHMENT_ROLES for v in by_role.get(r, [])]
    if loyalty:
        out["loyalty"] = round(sum(loyalty) / len(loyalty), 4)
    if attachment:
        out["attachment"] = round(sum(attachment) / len(attachment), 4)
    if len(loyalty) == len(LOYALTY_ROLES) and len(attachment) == 2 * len(ATTACHMENT_ROLES):
        out["tier"] = engagement_tier(loyalty, attachment, tier_rules or DEFAULT_TIER_RULES)
    factor_items = {f: by_role[f"csi.{f}"] for f in CSI_FACTORS if by_role.get(f"csi.{f}")}
    if factor_items:
        index, factors = csi_index(factor_items, csi_weights or DEFAULT_CSI_WEIGHTS)
        out["csi_index"] = None if index is None else round(index, 2)
        out["csi_factors"] = {f: round(s, 2) for f, s in factors.items()}
    return out


def merged_tier_rules(overrides: Mapping[str, Mapping[str, float]] | None) -> dict[str, Any]:
    """The default tier rules with a settings dict's overrides applied per tier and key."""
    rules = {tier: dict(values) for tier, values in DEFAULT_TIER_RULES.items()}
    for tier, values in (overrides or {}).items():
        if tier not in rules:
            raise ValueError(f"unknown engagement tier {tier!r} in RAPPORT_ENGAGEMENT_TIERS")
        rules[tier].update(values)
    return rules


def merged_csi_weights(overrides: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict(DEFAULT_CSI_WEIGHTS)
    for factor, weight in (overrides or {}).items():
        if factor not in weights or not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"bad CSI weight {factor!r}={weight!r} in RAPPORT_CSI_WEIGHTS")
        weights[factor] = float(weight)
    return weights
