"""The plain contact rules: quiet hours per time zone, quarantine, rule order (no database)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np

from rapport.surveys import contact_rules as rules

TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")
UTC = dt.UTC
QUIET = (dt.time(21, 0), dt.time(9, 0))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_quiet_hours_are_local_to_the_unit():
    # 14:00 UTC is 22:00 in Taipei (quiet) but mid-afternoon in UTC.
    now = utc(2025, 3, 3, 14, 0)
    assert rules.is_quiet(now, TAIPEI, *QUIET)
    assert not rules.is_quiet(now, UTC, *QUIET)
    # Postponed to 09:00 Taipei the next morning (01:00 UTC), not dropped.
    assert rules.quiet_adjusted(now, TAIPEI, *QUIET) == utc(2025, 3, 4, 1, 0)
    assert rules.quiet_adjusted(now, UTC, *QUIET) == now


def test_early_morning_waits_until_the_end_of_quiet_hours_the_same_day():
    early = dt.datetime(2025, 3, 3, 6, 30, tzinfo=TAIPEI)
    assert rules.quiet_adjusted(early, TAIPEI, *QUIET) == dt.datetime(
        2025, 3, 3, 9, 0, tzinfo=TAIPEI
    )
    at_end = dt.datetime(2025, 3, 3, 9, 0, tzinfo=TAIPEI)
    assert rules.quiet_adjusted(at_end, TAIPEI, *QUIET) == at_end


def test_daytime_quiet_window_and_none():
    lunch = (dt.time(12, 0), dt.time(13, 30))
    noon = dt.datetime(2025, 3, 3, 12, 10, tzinfo=TAIPEI)
    assert rules.quiet_adjusted(noon, TAIPEI, *lunch) == dt.datetime(
        2025, 3, 3, 13, 30, tzinfo=TAIPEI
    )
    assert not rules.is_quiet(noon, TAIPEI, dt.time(0), dt.time(0))


def test_quarantine_looks_both_ways():
    t = utc(2025, 3, 10)
    assert rules.in_quarantine(t, [t - dt.timedelta(days=29)], 30)
    assert rules.in_quarantine(t, [t + dt.timedelta(days=5)], 30)  # one already scheduled later
    assert not rules.in_quarantine(t, [t - dt.timedelta(days=30)], 30)
    assert not rules.in_quarantine(t, [t], 0)


def test_the_earliest_rule_wins_and_none_means_allowed():
    policy = rules.Policy(quarantine_days=30)
    t = utc(2025, 3, 10)
    both = rules.Facts(opted_out=True, contacts=[t])
    assert rules.suppressing_rule(both, t, policy) == rules.CONSENT
    assert rules.suppressing_rule(rules.Facts(contacts=[t]), t, policy) == rules.QUARANTINE
    assert rules.suppressing_rule(rules.Facts(has_address=False), t, policy) == rules.NO_ADDRESS
    assert rules.suppressing_rule(rules.Facts(), t, policy) is None


def test_columnar_codes_agree_with_the_scalar_rules():
    opted = np.array([True, False, False, True, False])
    no_address = np.array([False, True, False, True, False])
    quarantined = np.array([True, True, True, False, False])
    codes = rules.suppression_codes(
        5, {rules.CONSENT: opted, rules.NO_ADDRESS: no_address, rules.QUARANTINE: quarantined}
    )
    t = utc(2025, 3, 10)
    policy = rules.Policy(quarantine_days=30)
    for i in range(5):
        facts = rules.Facts(
            opted_out=bool(opted[i]),
            has_address=not no_address[i],
            contacts=[t] if quarantined[i] else [],
        )
        expected = rules.suppressing_rule(facts, t, policy)
        got = rules.RULE_ORDER[codes[i] - 1] if codes[i] else None
        assert got == expected
    assert rules.counts_by_rule(codes) == {"consent": 2, "no_address": 1, "quarantine": 1}


def test_one_per_touchpoint_keeps_the_best_priority():
    chosen = rules.first_per_key([(7, 100), (7, 10), (8, 100), (7, 10)])
    assert chosen == {7: 1, 8: 2}


def test_retry_backoff_grows_and_is_capped():
    delays = [rules.retry_delay(n) for n in range(1, 30)]
    assert delays[0] == dt.timedelta(minutes=1) and delays[1] == dt.timedelta(minutes=2)
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == dt.timedelta(hours=6)
