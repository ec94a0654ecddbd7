"""Every built-in template: complete in three languages, publishable, and scored right."""

from __future__ import annotations

import pytest

from rapport.surveys import actions, library
from rapport.surveys import questions as q
from rapport.surveys.models import Response, Survey

from .conftest import answer_all, complete_all


@pytest.mark.parametrize("kind", sorted(library.TEMPLATES))
def test_template_is_complete_in_three_languages(kind, db):
    survey = actions.create_survey_from_template(kind, kind, publish=True)
    version = actions.live_version(survey)
    for texts in (version.title, version.intro, version.thank_you):
        assert all(texts.get(lang) for lang in q.LANGUAGES)
    specs = actions.version_specs(version)
    assert not q.validate_definition(specs)
    for spec in specs:
        assert all(spec.texts.get(lang) for lang in q.LANGUAGES), spec.key
        for option in spec.options:
            assert all(option.labels.get(lang) for lang in q.LANGUAGES)
        if spec.type in {q.NPS, q.RATING}:
            assert all(spec.low_labels.get(lang) for lang in q.LANGUAGES)
    # Traditional and Simplified are really different scripts, not copies.
    assert any(s.texts["zh-hant"] != s.texts["zh-hans"] for s in specs)


def test_custom_starts_empty_and_cannot_be_published(db):
    survey = actions.create_survey_from_template("custom", "Mine")
    assert actions.latest_version(survey).questions.count() == 0
    with pytest.raises(actions.SurveyError):
        actions.publish_survey(survey)
    with pytest.raises(actions.SurveyError):
        actions.create_survey_from_template("gallup", "no")
    assert Survey.objects.count() == 1


def top(spec):
    if spec.type == q.TEXT:
        return "fine"
    if spec.type == q.YES_NO:
        return 1
    return spec.bounds()[1]


def run(make_survey, invite, customer, kind, value_for):
    survey = make_survey(kind)
    invitation, _ = invite(survey, customer)
    complete_all(invitation, answer_all(survey, value_for))
    return Response.objects.get(invitation=invitation)


def test_engagement_all_top_box_is_fully_engaged(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "engagement", top)
    assert (r.tier, r.loyalty, r.attachment) == ("fully_engaged", 5.0, 5.0)


def test_engagement_all_neutral_is_indifferent(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "engagement", lambda s: 3 if s.type != q.TEXT else "")
    assert (r.tier, r.loyalty, r.attachment) == ("indifferent", 3.0, 3.0)


def test_engagement_all_low_is_actively_disengaged(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "engagement", lambda s: 1 if s.type != q.TEXT else "")
    assert r.tier == "actively_disengaged"


def test_nps_template(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "nps", lambda s: 8 if s.type == q.NPS else "ok")
    assert (r.nps_score, r.nps_class) == (8, "passive")


def test_csat_template(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "csat", lambda s: 4 if s.type == q.RATING else "")
    assert (r.csat, r.csat_top2) == (4, True)


def test_ces_template(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "ces", lambda s: 6 if s.type == q.RATING else "")
    assert r.ces == 6


def test_csi_template_all_tens_is_1000(make_survey, invite, customer):
    r = run(make_survey, invite, customer, "csi", top)
    assert r.csi_index == pytest.approx(1000)
    assert set(r.csi_factors) == {
        "service_initiation",
        "service_advisor",
        "service_facility",
        "vehicle_pickup",
        "service_quality",
    }


def test_csi_template_weighted(make_survey, invite, customer):
    # Quality items 10, the rest 1: the index is service quality's weight, 28% of 1000.
    def value(spec):
        if spec.role == "csi.service_quality":
            return 10
        return 1 if spec.type == q.RATING else top(spec)

    r = run(make_survey, invite, customer, "csi", value)
    assert r.csi_index == pytest.approx(280)


def test_employee_pulse_is_anonymous(make_survey, invite, customer, service_visit):
    survey = make_survey("employee_pulse")
    assert survey.anonymous
    invitation, _ = invite(survey, customer, touchpoint=service_visit)
    complete_all(invitation, answer_all(survey, lambda s: 9 if s.type == q.NPS else top(s)))
    r = Response.objects.get(survey=survey)
    # Nothing leads from the answers back to the person: not even the invitation.
    assert (r.customer_id, r.staff_id, r.touchpoint_id, r.invitation_id) == (None,) * 4
    invitation.refresh_from_db()
    assert invitation.status == "completed"
    assert r.nps_class == "promoter"
