"""The numbers of a survey's results: scores with intervals, distributions, filters, scoping."""

from __future__ import annotations

import pytest

from rapport.surveys import actions, results, stats
from rapport.surveys.models import Invitation, Response


def scores_of(data: results.SurveyResults) -> dict[str, results.Score]:
    return {s.key: s for s in data.scores}


def nps_rows(promoters: int, passives: int, detractors: int, **extra) -> list[dict]:
    return (
        [{"recommend": 10, **extra}] * promoters
        + [{"recommend": 7, **extra}] * passives
        + [{"recommend": 3, "improve": "slow", **extra}] * detractors
    )


def test_nps_with_interval_and_small_sample_flag(make_survey, load):
    survey = make_survey("nps")
    load(survey, nps_rows(10, 5, 5))
    data = results.survey_results(survey, results.Filters(), "", "en")
    nps = scores_of(data)["nps"]
    assert data.n == 20
    assert nps.interval == stats.nps_interval(10, 5, 5)
    assert nps.interval.estimate == pytest.approx(25.0)
    assert nps.interval.small_sample  # shown, flagged
    dist = {d.key: d for d in data.distributions}["recommend"]
    assert [b.count for b in dist.bars] == [0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 10]
    assert dist.n == 20


def test_means_from_sql_sums_equal_the_interval_on_the_values(make_survey, load):
    survey = make_survey("ces")
    values = [7, 6, 6, 5, 4, 2, 7, 7, 3, 5, 6, 1]
    load(survey, [{"effort": v, "harder": "x"} if v <= 4 else {"effort": v} for v in values])
    data = results.survey_results(survey, results.Filters(), "", "en")
    ces = scores_of(data)["ces"].interval
    expected = stats.mean_interval(values)
    assert ces.estimate == pytest.approx(expected.estimate)
    assert ces.low == pytest.approx(expected.low)
    assert ces.high == pytest.approx(expected.high)
    easy = scores_of(data)["ces_easy"].interval
    assert easy == stats.wilson_interval(sum(v >= 5 for v in values), len(values))


def test_csat_share_and_csi_index(make_survey, load):
    csat = make_survey("csat")
    load(csat, [{"satisfaction": v} for v in (5, 5, 4, 4, 4, 5)] + [{"satisfaction": 2}])
    data = results.survey_results(csat, results.Filters(), "", "en")
    assert scores_of(data)["csat"].interval == stats.wilson_interval(6, 7)

    csi = make_survey("csi")
    specs = actions.version_specs(actions.live_version(csi))
    rows = []
    for level in (10, 8, 5):
        rows.append(
            {s.key: level for s in specs if s.role.startswith("csi.") and s.type != "yes_no"}
        )
        rows[-1].update({"return": 1, "external_id": f"csi-{level}"})
    load(csi, rows)
    indexes = list(Response.objects.filter(survey=csi).values_list("csi_index", flat=True))
    data = results.survey_results(csi, results.Filters(), "", "en")
    got = scores_of(data)["csi"].interval
    assert sorted(indexes) == pytest.approx([1000 * 4 / 9, 1000 * 7 / 9, 1000.0], abs=0.01)
    assert got.estimate == pytest.approx(stats.mean_interval(indexes).estimate)
    assert got.high == pytest.approx(stats.mean_interval(indexes).high)
    assert [f for f, _s, _n in data.factors] == [
        "service_initiation", "service_advisor", "service_facility", "vehicle_pickup",
        "service_quality",
    ]  # fmt: skip


def test_engagement_tier_mix(make_survey, load):
    survey = make_survey("engagement")
    keys = [s.key for s in actions.version_specs(actions.live_version(survey)) if s.type != "text"]
    load(survey, [dict.fromkeys(keys, 5)] * 3 + [dict.fromkeys(keys, 1)])
    tiers = {
        k: s
        for k, s in scores_of(results.survey_results(survey, results.Filters(), "", "en")).items()
        if k.startswith("tier.")
    }
    assert tiers["tier.fully_engaged"].interval.estimate == pytest.approx(0.75)
    assert tiers["tier.actively_disengaged"].interval.estimate == pytest.approx(0.25)
    assert tiers["tier.engaged"].interval.n == 4


def test_filters_unit_period_segment(make_survey, load, org, known_customer):
    survey = make_survey("nps")
    load(survey, nps_rows(3, 0, 0), unit="taipei", language="zh-hant", channel="email")
    load(
        survey,
        [{"external_id": f"k{i}", **row} for i, row in enumerate(nps_rows(0, 0, 2))],
        unit="kaohsiung",
        completed_at="2025-05-01T09:00:00+08:00",
    )
    load(survey, [{"external_id": "c1", "recommend": 8, "customer_external_id": "C-1"}])

    def n(**params) -> int:
        filters, errors = results.parse_filters(params)
        assert not errors
        return results.survey_results(survey, filters, "", "en").n

    assert n() == 6
    assert n(unit="north") == 3  # the subtree of the region
    assert n(unit="kaohsiung") == 2
    assert n(**{"from": "2025-04-01"}) == 2
    assert n(to="2025-03-02") == 4  # a date includes its whole day
    assert n(language="zh-hant") == 3
    assert n(channel="email") == 3
    from rapport.customers.models import AttributeDefinition

    AttributeDefinition.objects.create(name="model_year", type="integer")
    assert n(attribute="model_year", value="2023") == 1
    assert n(attribute="model_year", value="2020") == 0


def test_bad_filters_are_named_not_fatal(org):
    filters, errors = results.parse_filters(
        {"unit": "atlantis", "from": "yesterday", "language": "fr", "attribute": "nope"}
    )
    assert set(errors) == {"unit", "from", "language", "attribute"}
    assert filters == results.Filters()


def test_scoped_viewer_sees_only_their_subtree(make_survey, load, org):
    survey = make_survey("nps")
    load(survey, nps_rows(3, 0, 0), unit="taipei")
    load(
        survey,
        [{"external_id": f"k{i}", **r} for i, r in enumerate(nps_rows(0, 0, 2))],
        unit="kaohsiung",
    )
    north = org["north"].path
    data = results.survey_results(survey, results.Filters(), north, "en")
    assert data.n == 3
    assert scores_of(data)["nps"].interval.estimate == 100.0
    assert [u.name for u in data.units] == ["Taipei"]


def test_by_unit_rolls_up_one_level_below(make_survey, load, org):
    survey = make_survey("nps")
    load(survey, nps_rows(3, 0, 0), unit="taipei")
    load(
        survey,
        [{"external_id": f"k{i}", **r} for i, r in enumerate(nps_rows(0, 1, 2))],
        unit="kaohsiung",
    )
    load(survey, [{"external_id": "none", "recommend": 9}])
    rows = {u.name: u for u in results.survey_results(survey, results.Filters(), "", "en").units}
    assert rows["North"].n == 3 and rows["South"].n == 3
    assert rows["South"].scores["nps"].interval.estimate == pytest.approx(-200 / 3)
    assert rows["No unit"].n == 1


def test_funnel_counts_stages_and_leaves_imports_out(make_survey, invite, load, customer, org):
    survey = make_survey("csat")
    S = Invitation.Status
    for status in (
        S.SCHEDULED,
        S.SENT,
        S.SENT,
        S.OPENED,
        S.STARTED,
        S.COMPLETED,
        S.BOUNCED,
        S.SUPPRESSED,
    ):
        invite(survey, customer, status=status)
    Invitation.objects.filter(status=S.BOUNCED).update(sent_at="2025-01-01T00:00:00Z")
    load(survey, [{"satisfaction": 5}])  # an import: not in the funnel
    funnel = results.funnels([survey.pk], "")[survey.pk]
    assert (funnel.sent, funnel.opened, funnel.started, funnel.completed) == (6, 3, 2, 1)
    assert (funnel.scheduled, funnel.bounced, funnel.suppressed) == (1, 1, 1)
    assert funnel.invited == 8
    assert funnel.response_rate == pytest.approx(1 / 6)
