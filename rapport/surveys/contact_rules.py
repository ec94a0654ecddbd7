"""The contact rules: who may be invited, and when. Plain code, no ORM, no HTTP.

One invitation is judged by `suppressing_rule` (the event-triggered path and the send-time
re-check); a whole segment at once by `suppression_codes` over numpy masks (waves of a million
customers). Both apply the rules in the same order, `RULE_ORDER`, so the rule reported for a
suppressed customer is the same whichever path judged them. Quiet hours never suppress: they only
move the sending time (`quiet_adjusted`). The clock is always passed in, never read here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:  # imported where used: every process that starts Django loads this module
    import numpy as np

MERGED = "merged"
CONSENT = "consent"
NO_ADDRESS = "no_address"
DUPLICATE = "duplicate"
QUARANTINE = "quarantine"

# Earlier rules win: an opted-out customer is reported as "consent" even if also in quarantine.
RULE_ORDER: tuple[str, ...] = (MERGED, CONSENT, NO_ADDRESS, DUPLICATE, QUARANTINE)
RULE_LABELS: dict[str, Any] = {
    MERGED: _("customer merged into another"),
    CONSENT: _("opted out of surveys on this channel"),
    NO_ADDRESS: _("no address for this channel"),
    DUPLICATE: _("already invited for this touchpoint"),
    QUARANTINE: _("invited recently (quarantine)"),
}
PURPOSE = "survey"  # the consent purpose every survey invitation needs

RETRY_BASE = dt.timedelta(minutes=1)
RETRY_CAP = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Policy:
    quarantine_days: int = 30
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(9, 0)
    max_attempts: int = 6

    @property
    def quarantine(self) -> dt.timedelta:
        return dt.timedelta(days=self.quarantine_days)


@dataclass
class Facts:
    """What is known about one candidate invitation when it is judged."""

    merged: bool = False
    opted_out: bool = False
    has_address: bool = True
    duplicate: bool = False
    contacts: list[dt.datetime] = field(default_factory=list)  # other invitations' send times


def in_quarantine(send_at: dt.datetime, contacts: Iterable[dt.datetime], days: int) -> bool:
    """Whether another invitation is (to be) sent less than `days` days before or after."""
    if days <= 0:
        return False
    window = dt.timedelta(days=days)
    return any(abs(send_at - other) < window for other in contacts)


def suppressing_rule(facts: Facts, send_at: dt.datetime, policy: Policy) -> str | None:
    """The first rule that forbids this invitation, or None when it may go."""
    if facts.merged:
        return MERGED
    if facts.opted_out:
        return CONSENT
    if not facts.has_address:
        return NO_ADDRESS
    if facts.duplicate:
        return DUPLICATE
    if in_quarantine(send_at, facts.contacts, policy.quarantine_days):
        return QUARANTINE
    return None


def send_time_rule(*, merged: bool, opted_out: bool, has_address: bool) -> str | None:
    """The rules checked again just before sending (the customer may have opted out since)."""
    return suppressing_rule(
        Facts(merged=merged, opted_out=opted_out, has_address=has_address),
        dt.datetime.min,
        Policy(quarantine_days=0),
    )


def suppression_codes(size: int, masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per customer: 0 when allowed, else 1 + the index in RULE_ORDER of the first rule that
    forbids (masks: rule → boolean array, True where the rule forbids)."""
    import numpy as np

    codes = np.zeros(size, dtype=np.int8)
    for index in range(len(RULE_ORDER) - 1, -1, -1):  # the earliest rule is written last, wins
        mask = masks.get(RULE_ORDER[index])
        if mask is not None:
            codes[mask] = index + 1
    return codes


def counts_by_rule(codes: np.ndarray) -> dict[str, int]:
    """{rule: number suppressed by it} for the codes of `suppression_codes` (zeros left out)."""
    import numpy as np

    found = np.bincount(codes.astype(np.int64), minlength=len(RULE_ORDER) + 1)
    return {rule: int(found[i + 1]) for i, rule in enumerate(RULE_ORDER) if found[i + 1]}


def is_quiet(when: dt.datetime, tz: dt.tzinfo, start: dt.time, end: dt.time) -> bool:
    local = when.astimezone(tz).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight, e.g. 21:00–09:00


def quiet_adjusted(when: dt.datetime, tz: dt.tzinfo, start: dt.time, end: dt.time) -> dt.datetime:
    """`when`, or the end of the quiet hours it falls in (local time in `tz`): postponed, never
    dropped. The result is in UTC."""
    if not is_quiet(when, tz, start, end):
        return when.astimezone(dt.UTC)
    local = when.astimezone(tz)
    day = local.date()
    if start > end and local.time() >= start:
        day += dt.timedelta(days=1)  # evening: quiet until tomorrow morning
    wake = dt.datetime.combine(day, end, tzinfo=tz)
    return wake.astimezone(dt.UTC)


def retry_delay(failed_attempts: int) -> dt.timedelta:
    """Wait before the next sending attempt: 1 min × 2^(n-1), capped at 6 h."""
    n = max(failed_attempts, 1)
    return min(RETRY_BASE * 2 ** min(n - 1, 20), RETRY_CAP)


def first_per_key(candidates: Sequence[tuple[Any, int]]) -> dict[Any, int]:
    """{key: priority-ordered first index} — one invitation when several rules fire for the
    same touchpoint. `candidates` are (key, priority) in arrival order; ties keep the earlier."""
    chosen: dict[Any, tuple[int, int]] = {}
    for index, (key, priority) in enumerate(candidates):
        if key not in chosen or priority < chosen[key][0]:
            chosen[key] = (priority, index)
    return {key: index for key, (_p, index) in chosen.items()}
