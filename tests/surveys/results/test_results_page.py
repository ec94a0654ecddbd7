"""The results page, its CSV export and the survey list's funnel columns, as staff see them."""

from __future__ import annotations

import csv
import io

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def nps_rows(n: int, unit: str, prefix: str) -> list[dict]:
    return [
        {
            "external_id": f"{prefix}{i}",
            "recommend": [10, 9, 7, 3][i % 4],
            "why": f"because-{i}",
            "unit": unit,
        }
        for i in range(n)
    ]


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_page_shows_scores_distribution_and_inert_text(client, users, make_survey, load):
    survey = make_survey("nps")
    load(survey, [*nps_rows(8, "taipei", "t"), {"external_id": "s", "recommend": 2, "why": SCRIPT}])
    client.force_login(users["cx"])
    page = client.get(reverse("surveys:results", args=[survey.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Net Promoter Score" in html
    assert "small sample" in html  # n = 9 is shown, flagged
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'id="q-recommend"' in html


def test_query_count_does_not_grow_with_the_data(client, users, make_survey, load):
    survey = make_survey("nps")
    client.force_login(users["cx"])
    url = reverse("surveys:results", args=[survey.pk]) + "?unit=north&language=en"
    load(survey, nps_rows(3, "taipei", "a"))
    small = queries_for(client, url)
    load(survey, nps_rows(120, "taipei", "b") + nps_rows(40, "kaohsiung", "c"))
    big = queries_for(client, url)
    assert small == big
    assert big <= 18, big  # session, user, perms, staff, units, survey + the results queries


def test_agent_sees_only_their_branch(client, users, make_survey, load):
    survey = make_survey("nps")
    load(survey, nps_rows(4, "taipei", "t") + [{"external_id": "k", "recommend": 0, "why": "KHH"}])
    client.force_login(users["taipei_agent"])
    html = client.get(reverse("surveys:results", args=[survey.pk])).content.decode()
    assert "4 completed responses" in html
    assert "KHH" not in html
    assert "Kaohsiung" not in html  # not even in the unit filter


def test_filters_show_their_errors(client, users, make_survey):
    survey = make_survey("nps")
    client.force_login(users["cx"])
    page = client.get(reverse("surveys:results", args=[survey.pk]) + "?unit=nowhere&from=soon")
    assert page.status_code == 200
    assert "No unit with the code nowhere." in page.content.decode()


def test_open_text_is_paginated(client, users, make_survey, load):
    survey = make_survey("nps")
    load(survey, nps_rows(30, "taipei", "p"))
    client.force_login(users["cx"])
    url = reverse("surveys:results", args=[survey.pk])
    first = client.get(url).content.decode()
    second = client.get(url + "?page=2").content.decode()
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("because-") == 25 and second.count("because-") == 5


def test_csv_export_has_the_same_numbers(client, users, make_survey, load):
    survey = make_survey("nps")
    load(survey, nps_rows(8, "taipei", "t"))
    client.force_login(users["analyst"])
    response = client.get(reverse("surveys:results_csv", args=[survey.pk]) + "?unit=taipei")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    nps = next(r for r in rows if r["section"] == "score" and r["item"] == "nps")
    assert float(nps["estimate"]) == 25.0 and nps["n"] == "8" and nps["small_sample"] == "True"
    bars = {r["value"]: r["estimate"] for r in rows if r["item"] == "recommend"}
    assert bars["10"] == "2" and bars["3"] == "2"


def test_results_need_the_view_permission(client, db, org, make_survey):
    from django.contrib.auth.models import User

    survey = make_survey("nps")
    client.force_login(User.objects.create_user("nobody", password="x-Secret-123"))
    assert client.get(reverse("surveys:results", args=[survey.pk])).status_code == 403


def test_survey_list_shows_the_funnel(client, users, make_survey, invite, customer):
    survey = make_survey("csat")
    for status in ("sent", "opened", "completed", "scheduled"):
        invite(survey, customer, status=status)
    client.force_login(users["cx"])
    html = client.get(reverse("surveys:list")).content.decode()
    assert reverse("surveys:results", args=[survey.pk]) in html
    assert "Response rate" in html
    assert "33%" in html  # 1 completed of 3 sent
