"""Behavioural retention on hand-made timelines, the lock-in rule and the matrix cells."""

from __future__ import annotations

import polars as pl
import pytest

from rapport.insights import retention
from rapport.insights.retention import RetentionRule

RULE = RetentionRule()


def visits(timelines: dict[int, list[int]]) -> pl.DataFrame:
    rows = [(c, d) for c, days in timelines.items() for d in days]
    return pl.DataFrame(rows, schema={"customer": pl.Int64, "day": pl.Int32}, orient="row")


def states(timelines, as_of, fallback=None):
    cadence = retention.visit_cadence(visits(timelines), as_of)
    fb = retention.fallback_gap(cadence, RULE) if fallback is None else fallback
    out = retention.retention_states(cadence, as_of, RULE, fb).sort("customer")
    return {r["customer"]: r for r in out.iter_rows(named=True)}, fb


def test_own_cadence_and_the_three_states():
    # Everyone visits every 30 days (median gap 30): overdue after 45, lost after 90.
    got, _ = states({1: [0, 30, 60], 2: [0, 30, 60], 3: [0, 30, 60], 4: [0, 30, 60]}, as_of=60)
    assert got[1]["expected_gap"] == 30 and not got[1]["gap_is_fallback"]
    for as_of, expected in ((105, "retained"), (106, "at_risk"), (150, "at_risk"), (151, "lost")):
        got, _ = states({1: [0, 30, 60]}, as_of=as_of)
        assert got[1]["state"] == expected, as_of


def test_median_gap_resists_one_long_absence():
    got, _ = states({1: [0, 10, 20, 30, 400]}, as_of=410)  # gaps 10, 10, 10, 370 → 10
    assert got[1]["expected_gap"] == 10
    assert got[1]["state"] == "retained"


def test_fewer_than_three_visits_take_the_base_cadence():
    timelines = {1: [0, 20, 40], 2: [0, 60, 120], 3: [0, 100, 200], 4: [150], 5: [100, 180]}
    got, fallback = states(timelines, as_of=200)
    assert fallback == 60  # median of 20, 60, 100
    assert got[4]["gap_is_fallback"] and got[4]["expected_gap"] == 60
    assert got[4]["state"] == "retained"  # 50 days ≤ 90
    assert got[5]["expected_gap"] == 60 and got[5]["state"] == "retained"  # own gap 80 unused
    got, _ = states({4: [0]}, as_of=130, fallback=40)
    assert got[4]["state"] == "lost"


def test_nobody_with_three_visits_uses_the_default():
    got, fallback = states({1: [0], 2: [5, 50]}, as_of=60)
    assert fallback == RULE.default_gap_days


def test_same_day_visits_count_once_and_service_visits_a_year():
    frame = pl.DataFrame(
        {"customer": [1, 1, 1, 1], "day": [0, 0, 300, 400], "service": [True, False, True, False]}
    )
    cadence = retention.visit_cadence(frame, 400)
    row = retention.retention_states(cadence, 400, RULE, 100.0).row(0, named=True)
    assert row["visits"] == 3
    assert row["visits_per_year"] == 1  # day 300; day 400 was a purchase, day 0 too long ago


def lock_in(visit_days, event_days, as_of):
    v = pl.DataFrame(
        {"customer": [1] * len(visit_days), "day": visit_days},
        schema={"customer": pl.Int64, "day": pl.Int32},
    )
    e = pl.DataFrame(
        {"customer": [1] * len(event_days), "day": event_days},
        schema={"customer": pl.Int64, "day": pl.Int32},
    )
    return retention.lock_in(v, e, as_of, RULE).row(0, named=True)


def test_returns_after_points_events_are_flagged():
    # Points statements on days 100 and 200; the customer comes back 3 days after each.
    row = lock_in([0, 103, 203], [100, 200], as_of=250)
    assert (row["returns"], row["prompted_returns"]) == (2, 2)
    assert row["chance_share"] == pytest.approx(30 / 251)
    assert row["lock_in_flag"]


def test_returns_before_events_or_too_long_after_are_not_prompted():
    row = lock_in([0, 99, 215], [100, 200], as_of=250)  # one before, one 15 days after
    assert row["prompted_returns"] == 0 and not row["lock_in_flag"]


def test_frequent_events_explain_returns_by_chance():
    # Monthly instalments cover half of every month: half the returns falling after one
    # proves nothing (5, 20, 10 and 25 days after a payment).
    payments = list(range(0, 360, 30))
    row = lock_in([0, 35, 80, 100, 145], payments, as_of=360)
    assert (row["returns"], row["prompted_returns"]) == (4, 2)
    assert row["chance_share"] == pytest.approx(0.5, abs=0.01)
    assert not row["lock_in_flag"]


def test_one_return_is_not_a_pattern():
    assert not lock_in([0, 103], [100], as_of=200)["lock_in_flag"]


@pytest.mark.parametrize(
    "state, tier, cell",
    [
        ("retained", "fully_engaged", "advocate"),
        ("retained", "engaged", "advocate"),
        ("retained", "indifferent", "locked_in"),
        ("retained", "actively_disengaged", "locked_in"),
        ("retained", None, "unmeasured"),
        ("at_risk", "fully_engaged", "at_risk"),
        ("at_risk", None, "at_risk"),
        ("lost", "engaged", "lost"),
        ("no_visits", "engaged", "no_visits"),
        (None, None, "no_visits"),
    ],
)
def test_matrix_cells(state, tier, cell):
    frame = pl.DataFrame(
        {"state": [state], "tier": [tier]}, schema={"state": pl.String, "tier": pl.String}
    )
    got = frame.select(retention.matrix_cell(pl.col("state"), pl.col("tier"))).item()
    assert got == cell
