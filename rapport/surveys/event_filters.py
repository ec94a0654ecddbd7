"""Which event rules a touchpoint fires. Plain code: matched in memory against the payloads of
`touchpoint.created`, so a bulk import of thousands costs no query per touchpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RuleSpec:
    id: int
    kind: str
    priority: int = 100
    channels: frozenset[str] = frozenset()  # empty: any channel
    unit_path: str = ""  # "/1/4/": the touchpoint's unit must be in this subtree; "": anywhere
    context: Mapping[str, Any] = field(default_factory=dict)  # name → value or [values]


def context_matches(wanted: Mapping[str, Any], context: Mapping[str, Any] | None) -> bool:
    """Every named context value equals the wanted one (or is one of a list of them); compared
    as text, so "1" in a filter matches 1 from a CSV-typed context."""
    context = context or {}
    for name, expected in wanted.items():
        if name not in context:
            return False
        options = expected if isinstance(expected, list) else [expected]
        if str(context[name]) not in {str(o) for o in options}:
            return False
    return True


def rule_matches(
    rule: RuleSpec, touchpoint: Mapping[str, Any], unit_paths: Mapping[int, str]
) -> bool:
    if touchpoint.get("kind") != rule.kind:
        return False
    if rule.channels and touchpoint.get("channel") not in rule.channels:
        return False
    if rule.unit_path:
        path = unit_paths.get(touchpoint.get("unit_id") or 0, "")
        if not path.startswith(rule.unit_path):
            return False
    return context_matches(rule.context, touchpoint.get("context"))


def matching_rules(
    rules: Sequence[RuleSpec],
    touchpoints: Sequence[Mapping[str, Any]],
    unit_paths: Mapping[int, str],
) -> list[tuple[int, int]]:
    """(touchpoint id, rule id) for every rule each touchpoint fires, best priority first."""
    ordered = sorted(rules, key=lambda r: (r.priority, r.id))
    by_kind: dict[str, list[RuleSpec]] = {}
    for rule in ordered:
        by_kind.setdefault(rule.kind, []).append(rule)
    found = []
    for tp in touchpoints:
        for rule in by_kind.get(tp.get("kind", ""), ()):
            if rule_matches(rule, tp, unit_paths):
                found.append((int(tp["id"]), rule.id))
    return found
