"""Severity, customer value tier and the priority they give a case. Plain code.

R6: the most valuable customers get the best experience, so a complaint of the same severity is
handled sooner for them. The value tier is read in ONE place, `value_tier`: until [insights]
computes customer value it comes from the customer attribute `value_tier` (high/medium/low).
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


def value_tier(attributes: Mapping[str, Any] | None) -> str:
    """The customer's value tier from their attributes; unknown or missing → medium."""
    raw = str((attributes or {}).get("value_tier", "")).strip().lower()
    return raw if raw in VALUE_TIERS else DEFAULT_TIER


def priority_for(severity: str, tier: str) -> str:
    if severity not in MATRIX:
        raise ValueError(f"unknown severity {severity!r}")
    return MATRIX[severity].get(tier, MATRIX[severity][DEFAULT_TIER])
