"""GET /api/v1/surveys and GET /api/v1/surveys/{id}/results: the page's numbers, scoped."""

from __future__ import annotations

from rapport.surveys import results
from rapport.surveys.ingest import ingest_responses
from tests.api.conftest import KeyClient, assert_error, make_key


def load(survey, rows, unit):
    records = [
        {"external_id": f"{unit}-{i}", "completed_at": "2025-03-02T10:00:00+08:00", "unit": unit,
         "recommend": score}
        for i, score in enumerate(rows)
    ]  # fmt: skip
    report = ingest_responses(records, source="t", survey=survey.pk, emit_events=False)
    assert report.committed


def test_list_with_funnel(db, make_survey, invite, customer):
    survey = make_survey("nps")
    make_survey("csat")
    invite(survey, customer, status="sent")
    invite(survey, customer, status="completed")
    body = KeyClient(make_key("surveys:read")).get("/api/v1/surveys").json()
    by_id = {s["id"]: s for s in body}
    assert by_id[survey.pk]["live_version"] == 1
    assert by_id[survey.pk]["funnel"]["sent"] == 2
    assert by_id[survey.pk]["funnel"]["response_rate"] == 0.5
    assert_error(KeyClient(make_key("responses:write")).get("/api/v1/surveys"), 403, "forbidden")


def test_results_are_the_same_numbers_as_the_page(db, org, make_survey):
    survey = make_survey("nps")
    load(survey, [10, 9, 8, 2, 10, 6], "taipei")
    load(survey, [0, 1, 10], "kaohsiung")
    client = KeyClient(make_key("surveys:read"))
    body = client.get(f"/api/v1/surveys/{survey.pk}/results?unit=taipei").json()
    filters, _errors = results.parse_filters({"unit": "taipei"})
    expected = results.survey_results(survey, filters, "", "en").as_dict()
    assert body == expected
    nps = next(s for s in body["scores"] if s["key"] == "nps")
    assert nps["n"] == 6 and nps["small_sample"] is True
    assert round(nps["estimate"], 3) == round(100 * (3 - 2) / 6, 3)
    question = next(q for q in body["questions"] if q["key"] == "recommend")
    assert question["n"] == 6 and len(question["bars"]) == 11


def test_results_filters_errors_and_missing_survey(db, org, make_survey):
    survey = make_survey("nps")
    client = KeyClient(make_key("surveys:read"))
    error = assert_error(
        client.get(f"/api/v1/surveys/{survey.pk}/results?unit=mars&from=later"),
        422,
        "validation_error",
    )
    assert {tuple(d["loc"]) for d in error["details"]} == {("query", "unit"), ("query", "from")}
    assert_error(client.get("/api/v1/surveys/999999/results"), 404, "not_found")


def test_session_user_sees_their_subtree(client, users, make_survey):
    survey = make_survey("nps")
    load(survey, [10, 10], "taipei")
    load(survey, [0], "kaohsiung")
    client.force_login(users["taipei_agent"])
    body = client.get(f"/api/v1/surveys/{survey.pk}/results").json()
    assert body["responses"] == 2
    client.force_login(users["cx"])
    assert client.get(f"/api/v1/surveys/{survey.pk}/results").json()["responses"] == 3
