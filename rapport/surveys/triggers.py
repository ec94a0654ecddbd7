"""Event rules: a touchpoint of kind K (filtered by channel, unit subtree and context) invites its
customer after a delay.

The handler runs after the commit of each `touchpoint.created` emit, with every payload of it (a
bulk import emits thousands at once). It only matches payloads against the active rules in memory
(rapport.surveys.event_filters: one query for the rules, one for the unit paths) and enqueues the
matches in chunks; the worker's task does the scheduling (rapport.surveys.distribution), so an
import or an API call never waits for contact rules, let alone for sending.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils import timezone

from rapport.core.events import live, subscribe
from rapport.org.models import OrgUnit
from rapport.surveys import distribution
from rapport.surveys.event_filters import RuleSpec, matching_rules
from rapport.surveys.models import EventRule

log = logging.getLogger(__name__)

CHUNK = 2000  # matches per task


DRY_RUN_LIMIT = 200_000  # touchpoints looked at by one dry run
SAMPLE_LIST = 20


def spec_of(rule: EventRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        kind=rule.touchpoint_kind,
        priority=rule.priority,
        channels=frozenset(rule.touchpoint_channels or ()),
        unit_path=rule.unit.path if rule.unit_id else "",
        context=dict(rule.context_filter or {}),
    )


def active_rules() -> list[RuleSpec]:
    return [spec_of(r) for r in EventRule.objects.filter(active=True).select_related("unit")]


def any_active_rule() -> bool:
    """Whether the trigger wants touchpoint events at all (bulk imports skip them otherwise)."""
    try:
        return EventRule.objects.filter(active=True).exists()
    except Exception:  # e.g. before the migration ran: nobody to invite
        log.debug("event rules not readable", exc_info=True)
        return False


def matches_for(payloads: list[Mapping[str, Any]]) -> list[tuple[int, int]]:
    specs = active_rules()
    if not specs:
        return []
    kinds = {s.kind for s in specs}
    relevant = [p for p in payloads if p.get("kind") in kinds and p.get("id")]
    if not relevant:
        return []
    paths = (
        dict(OrgUnit.objects.values_list("id", "path")) if any(s.unit_path for s in specs) else {}
    )
    return matching_rules(specs, relevant, paths)


@subscribe("touchpoint.created", interested=any_active_rule)
def on_touchpoints_created(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """Enqueue the scheduling of invitations for the touchpoints that fire a rule."""
    from rapport.surveys.tasks import schedule_event_invitations

    recent = live(payloads)
    if not recent:
        return
    found = matches_for(recent)
    for start in range(0, len(found), CHUNK):
        chunk = [list(pair) for pair in found[start : start + CHUNK]]
        schedule_event_invitations.enqueue(chunk)


@dataclass
class RuleDryRun:
    """What a rule would have done with the touchpoints of the last days (nothing written)."""

    rule_id: int
    rule_name: str
    since: str
    touchpoints: int = 0
    invited: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    invited_sample: list[dict[str, Any]] = field(default_factory=list)
    suppressed_sample: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dry_run_rule(rule: EventRule, days: int = 7, now: dt.datetime | None = None) -> RuleDryRun:
    """Who this rule would invite for the touchpoints of the last `days` days, and which contact
    rule would stop the others — judged exactly as scheduling would (distribution.plan)."""
    from rapport.touchpoints.models import Touchpoint

    now = now or timezone.now()
    since = now - dt.timedelta(days=days)
    result = RuleDryRun(rule.pk, rule.name, since.isoformat())
    spec = spec_of(rule)
    rows = list(
        Touchpoint.objects.filter(kind=rule.touchpoint_kind, occurred_at__gte=since)
        .order_by("occurred_at", "pk")
        .values("id", "kind", "channel", "unit_id", "context")[:DRY_RUN_LIMIT]
    )
    paths = dict(OrgUnit.objects.values_list("id", "path")) if spec.unit_path else {}
    matches = matching_rules([spec], rows, paths)
    result.touchpoints = len(matches)
    candidates = distribution.candidates_for_touchpoints(matches, only_active=False)
    for decision in distribution.plan(candidates, now):
        c = decision.candidate
        if decision.invited:
            result.invited += 1
            if len(result.invited_sample) < SAMPLE_LIST:
                result.invited_sample.append(
                    {"customer_id": c.customer_id, "touchpoint_id": c.touchpoint_id,
                     "send_at": decision.send_at.isoformat()}
                )  # fmt: skip
            continue
        rule_name = decision.rule or ""
        result.suppressed[rule_name] = result.suppressed.get(rule_name, 0) + 1
        sample = result.suppressed_sample.setdefault(rule_name, [])
        if len(sample) < SAMPLE_LIST:
            sample.append(c.customer_id)
    return result
