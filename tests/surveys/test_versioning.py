"""Versions: published versions never change; edits go to a draft; old responses keep theirs."""

from __future__ import annotations

import pytest

from rapport.surveys import actions
from rapport.surveys.models import Answer, Response

from .conftest import answer_all, complete_all


def test_editing_a_survey_with_responses_creates_a_new_version(make_survey, customer, invite):
    survey = make_survey("csat")
    v1 = actions.live_version(survey)
    invitation, _token = invite(survey, customer)
    complete_all(invitation, answer_all(survey, lambda s: 5 if s.type == "rating" else "ok"))
    old = Response.objects.get()

    actions.save_question(
        survey, "satisfaction", {"texts": {"en": "How happy were you with us today?"}}
    )
    draft = actions.latest_version(survey)
    assert draft.number == 2 and draft.published_at is None
    assert actions.live_version(survey) == v1  # customers still get v1 until publishing
    v1.refresh_from_db()
    assert v1.questions.get(key="satisfaction").texts["en"].startswith("How satisfied")

    actions.publish_survey(survey)
    assert actions.live_version(survey).number == 2
    old.refresh_from_db()
    assert old.version == v1
    answer = Answer.objects.get(response=old, question__key="satisfaction")
    assert answer.question.version == v1
    assert answer.question.texts["en"].startswith("How satisfied")


def test_a_draft_is_edited_in_place(make_survey):
    survey = actions.create_survey_from_template("nps", "draft")
    actions.save_question(survey, "why", {"required": True})
    actions.save_question(survey, None, {"type": "yes_no", "texts": {"en": "Back again?"}})
    assert survey.versions.count() == 1
    keys = list(actions.latest_version(survey).questions.values_list("key", flat=True))
    assert "q4" in keys


def test_two_edits_after_publishing_make_one_draft(make_survey):
    survey = make_survey("nps")
    actions.save_question(survey, "why", {"required": True})
    actions.delete_question(survey, "improve")
    assert survey.versions.count() == 2
    assert set(actions.latest_version(survey).questions.values_list("key", flat=True)) == {
        "recommend",
        "why",
    }
    assert actions.live_version(survey).questions.count() == 3


def test_deleting_a_question_drops_conditions_on_it(make_survey):
    survey = make_survey("nps")
    actions.delete_question(survey, "recommend")
    improve = actions.latest_version(survey).questions.get(key="improve")
    assert improve.condition is None


def test_publishing_refuses_a_broken_definition(make_survey):
    survey = make_survey("nps")
    actions.save_question(
        survey, "recommend", {"condition": {"question": "why", "op": "eq", "value": "x"}}
    )
    with pytest.raises(actions.SurveyError, match="earlier page"):
        actions.publish_survey(survey)
    assert actions.live_version(survey).number == 1


def test_move_question_reorders_and_takes_the_page(make_survey):
    survey = make_survey("nps")
    actions.move_question(survey, "why", -1)  # to page 1, before "recommend"
    specs = sorted(
        actions.version_specs(actions.latest_version(survey)), key=lambda s: (s.page, s.order)
    )
    assert [(s.key, s.page) for s in specs] == [("why", 1), ("recommend", 2), ("improve", 2)]


def test_only_published_versions_are_sent(make_survey, customer):
    survey = actions.create_survey_from_template("nps", "unpublished")
    with pytest.raises(actions.SurveyError):
        actions.create_invitation(actions.latest_version(survey), channel="email")
