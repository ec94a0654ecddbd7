"""The built-in Gallup reference and competitors' figures against ours."""

from __future__ import annotations

import pytest

from rapport.insights import benchmarks
from rapport.surveys import stats


def test_gallup_reference_as_published():
    world, average = benchmarks.GALLUP_WORLD_CLASS, benchmarks.GALLUP_AVERAGE
    order = ("fully_engaged", "engaged", "indifferent", "actively_disengaged")
    assert [world.shares[t] for t in order] == [0.48, 0.26, 0.20, 0.06]
    assert [average.shares[t] for t in order] == [0.19, 0.24, 0.34, 0.23]
    for ref in benchmarks.REFERENCES:
        assert sum(ref.shares.values()) == pytest.approx(1.0)
        assert "Gallup" in str(ref.source) and "Gallup" in str(ref.label)
    assert "approximation" in str(benchmarks.OUR_TIERS_LABEL)


def test_compare_mix():
    counts = {"fully_engaged": 190, "engaged": 240, "indifferent": 340, "actively_disengaged": 230}
    rows = {r.tier: r for r in benchmarks.compare_mix(counts, benchmarks.GALLUP_AVERAGE)}
    assert rows["fully_engaged"].difference == pytest.approx(0.0)
    assert not rows["fully_engaged"].reference_outside_interval
    world = {r.tier: r for r in benchmarks.compare_mix(counts, benchmarks.GALLUP_WORLD_CLASS)}
    assert world["fully_engaged"].difference == pytest.approx(-0.29)
    assert world["fully_engaged"].reference_outside_interval
    empty = benchmarks.compare_mix({}, benchmarks.GALLUP_AVERAGE)
    assert all(r.ours is None and r.difference is None for r in empty)


def test_compare_competitor_tests_only_with_their_n():
    ours = {"fully_engaged": 60, "engaged": 20, "indifferent": 15, "actively_disengaged": 5}
    nps = stats.nps_interval(50, 30, 20)
    with_n = benchmarks.compare_competitor(
        ours, nps, {"name": "Rival", "period": "2025", "source": "survey", "n": 100,
                    "fully_engaged": 0.40, "nps": 12.0}
    )  # fmt: skip
    assert with_n.fully_engaged_difference == pytest.approx(0.20)
    assert with_n.fully_engaged_test.significant
    assert with_n.nps_difference == pytest.approx(18.0)
    without_n = benchmarks.compare_competitor(ours, None, {"name": "Other", "fully_engaged": 0.4})
    assert without_n.fully_engaged_test is None and without_n.nps_difference is None
