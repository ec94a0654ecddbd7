"""A completed response appears on the customer's timeline."""

from __future__ import annotations

from rapport.customers import timeline

from .conftest import answer_all, complete_all


def test_completed_response_on_the_timeline(make_survey, invite, customer):
    survey = make_survey("csat")
    invitation, _ = invite(survey, customer)
    empty = timeline.page(customer, timeline.Filters(type="survey_response"))
    assert empty.entries == []
    complete_all(invitation, answer_all(survey, lambda s: 5 if s.type == "rating" else "ok"))
    page = timeline.page(customer, timeline.Filters())
    entries = [e for e in page.entries if e.type == "survey_response"]
    assert len(entries) == 1
    assert "csat survey" in entries[0].title
    assert entries[0].object.csat == 5
    assert timeline.page(customer, timeline.Filters(kind="service_visit")).entries == []
