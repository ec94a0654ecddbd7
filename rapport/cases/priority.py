"""Severity, customer value tier and the priority they give a case. Plain code.

R6: the most valuable customers get the best experience, so a complaint of the same severity is
handled sooner for them. The value tier is read in ONE place, `value_tier`: the tier [insights]
computed for the customer (platinum/gold/silver/bronze, by lifetime value) when there is one,
else the customer attribute `value_tier` (high/medium/low) that a CRM may send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

SEVERITIES: dict[str, str] = {
    "low": _("Low"),
    "medium": _("Medium"),
    "high": _("High"),
    "critical": _("Critical"),
}
VALUE_TIERS: dict[str, str] = {
    "high": _("High value"),
    "medium": _("Medium value"),
    "low": _("Low value"),
}
DEFAULT_TIER = "medium"
# [insights]' tiers (rapport.insights.rfm.VALUE_TIERS: top 20% platinum, then 30% gold, 30% silver,
# 20% bronze) → the case tiers: the top fifth is served first, the bottom fifth last.
INSIGHT_TIERS: dict[str, str] = {
    "platinum": "high",
    "gold": "medium",
    "silver": "medium",
    "bronze": "low",
}
PRIORITIES: dict[str, str] = {
    "p1": _("P1 — urgent"),
    "p2": _("P2 — high"),
    "p3": _("P3 — normal"),
    "p4": _("P4 — low"),
}

# severity → {value tier → priority}
MATRIX: dict[str, dict[str, str]] = {
    "critical": {"high": "p1", "medium": "p1", "low": "p2"},
    "high": {"high": "p1", "medium": "p2", "low": "p2"},
    "medium": {"high": "p2", "medium": "p3", "low": "p3"},
    "low": {"high": "p3", "medium": "p4", "low": "p4"},
}


def value_tier(attributes: Mapping[str, Any] | None, insight_tier: str | None = None) -> str:
    """The customer's value tier: from [insights]' computed tier when known, else from their
    attributes; unknown or missing → medium."""
    if insight_tier in INSIGHT_TIERS:
        return INSIGHT_TIERS[insight_tier]
    raw = str((attributes or {}).get("value_tier", "")).strip().lower()
    return raw if raw in VALUE_TIERS else DEFAULT_TIER


def priority_for(severity: str, tier: str) -> str:
    if severity not in MATRIX:
        raise ValueError(f"unknown severity {severity!r}")
    return MATRIX[severity].get(tier, MATRIX[severity][DEFAULT_TIER])
