"""Scores from textbook answers: NPS, CSAT, CES, engagement tiers and the CSI index."""

from __future__ import annotations

import pytest

from rapport.surveys import scoring


def test_nps_classes_at_the_boundaries():
    assert [scoring.nps_class(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    with pytest.raises(ValueError):
        scoring.nps_class(11)


def test_nps_textbook():
    # 5 promoters, 3 passives, 2 detractors: 50% − 20% = 30.
    assert scoring.nps([10, 9, 9, 10, 9, 7, 8, 7, 3, 6]) == pytest.approx(30.0)
    assert scoring.nps([]) is None


def test_csat_is_the_share_of_fours_and_fives():
    assert scoring.csat([5, 4, 3, 2, 5]) == pytest.approx(0.6)


def test_ces_mean_and_share_of_five_to_seven():
    mean, share = scoring.ces([7, 6, 5, 4, 1])
    assert mean == pytest.approx(4.6)
    assert share == pytest.approx(0.6)


def eng(loyalty, attachment):
    roles = list(scoring.LOYALTY_ROLES)
    pairs = list(zip(roles, loyalty, strict=True))
    for i, value in enumerate(attachment):
        pairs.append((scoring.ATTACHMENT_ROLES[i // 2], value))
    return scoring.response_scores(pairs)


@pytest.mark.parametrize(
    ("loyalty", "attachment", "tier"),
    [
        ((5, 5, 5), (5, 5, 5, 5, 5, 5, 5, 4), "fully_engaged"),
        ((5, 5, 5), (5, 5, 5, 5, 5, 5, 4, 4), "engaged"),  # only 6 top boxes
        ((5, 5, 4), (5, 5, 5, 5, 5, 5, 5, 5), "engaged"),  # loyalty not all top box
        ((4, 4, 4), (4, 4, 4, 4, 4, 4, 3, 3), "engaged"),
        ((4, 4, 4), (4, 4, 4, 4, 4, 3, 3, 3), "indifferent"),
        ((3, 3, 3), (3, 3, 3, 3, 3, 3, 3, 3), "indifferent"),
        ((2, 3, 2), (3, 3, 3, 3, 3, 3, 3, 3), "actively_disengaged"),  # loyalty mean 2.33
        ((4, 4, 3), (2, 2, 1, 2, 3, 3, 3, 3), "actively_disengaged"),  # four bottom-two
    ],
)
def test_engagement_tiers(loyalty, attachment, tier):
    scores = eng(loyalty, attachment)
    assert scores["tier"] == tier
    assert scores["loyalty"] == pytest.approx(sum(loyalty) / 3, abs=1e-4)
    assert scores["attachment"] == pytest.approx(sum(attachment) / 8, abs=1e-4)


def test_tier_rules_are_configurable():
    rules = scoring.merged_tier_rules({"fully_engaged": {"attachment_top_box_min": 6}})
    pairs = [(r, 5) for r in scoring.LOYALTY_ROLES]
    pairs += [(scoring.ATTACHMENT_ROLES[i // 2], v) for i, v in enumerate((5,) * 6 + (4, 4))]
    assert scoring.response_scores(pairs)["tier"] == "engaged"
    assert scoring.response_scores(pairs, tier_rules=rules)["tier"] == "fully_engaged"
    with pytest.raises(ValueError):
        scoring.merged_tier_rules({"superfans": {}})


def test_no_tier_without_all_eleven_items():
    pairs = [(r, 5) for r in scoring.LOYALTY_ROLES] + [("eng.pride", 5)]
    assert scoring.response_scores(pairs)["tier"] is None


def test_csi_index_textbook():
    # Every item 10 → 1000; every item 1 → 0.
    top = [(f"csi.{f}", 10) for f in scoring.CSI_FACTORS]
    assert scoring.response_scores(top)["csi_index"] == pytest.approx(1000)
    bottom = [(f"csi.{f}", 1) for f in scoring.CSI_FACTORS]
    assert scoring.response_scores(bottom)["csi_index"] == pytest.approx(0)
    # Quality 10 (1000), everything else 1 (0): index = quality's weight × 1000 = 280.
    mixed = [("csi.service_quality", 10)] + [
        (f"csi.{f}", 1) for f in scoring.CSI_FACTORS if f != "service_quality"
    ]
    scores = scoring.response_scores(mixed)
    assert scores["csi_index"] == pytest.approx(280)
    assert scores["csi_factors"]["service_quality"] == pytest.approx(1000)


def test_csi_factor_is_the_mean_of_its_items_and_weights_renormalise():
    pairs = [("csi.service_advisor", 10), ("csi.service_advisor", 1)]  # mean 5.5 → 500
    scores = scoring.response_scores(pairs)
    assert scores["csi_factors"] == {"service_advisor": pytest.approx(500)}
    assert scores["csi_index"] == pytest.approx(500)  # the only answered factor


def test_csi_weights_are_configurable_and_checked():
    weights = scoring.merged_csi_weights({"service_quality": 1.0})
    assert weights["service_quality"] == 1.0
    with pytest.raises(ValueError):
        scoring.merged_csi_weights({"coffee": 0.5})
    with pytest.raises(ValueError):
        scoring.merged_csi_weights({"service_quality": -1})
    assert sum(scoring.DEFAULT_CSI_WEIGHTS.values()) == pytest.approx(1.0)


def test_response_scores_for_single_item_surveys():
    scores = scoring.response_scores([("nps", 9), ("csat", 4), ("ces", 6), ("", 3)])
    assert scores["nps_class"] == "promoter" and scores["nps_score"] == 9
    assert scores["csat"] == 4 and scores["csat_top2"] is True
    assert scores["ces"] == 6
    assert scores["tier"] is None and scores["csi_index"] is None
