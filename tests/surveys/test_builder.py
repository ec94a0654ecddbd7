"""The survey builder: who may use it, new from template, edit texts, preview, publish."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from rapport.surveys import actions
from rapport.surveys.models import Invitation, Response, Survey


@pytest.fixture
def cx(client, users):
    client.force_login(users["cx"])
    return client


def test_only_cx_managers_and_admins_edit(client, users, make_survey):
    survey = make_survey("nps")
    for name, status in (("taipei_agent", 403), ("analyst", 403), ("cx", 200), ("admin", 200)):
        client.force_login(users[name])
        assert client.get(reverse("surveys:edit", args=[survey.pk])).status_code == status, name
    client.force_login(users["analyst"])
    assert client.get(reverse("surveys:list")).status_code == 200
    assert client.post(reverse("surveys:new"), {"kind": "nps", "name": "x"}).status_code == 403
    client.logout()
    assert client.get(reverse("surveys:list")).status_code == 302  # to the login page


def test_new_from_template_in_one_click(cx):
    page = cx.post(reverse("surveys:new"), {"kind": "csi", "name": "Spring CSI"})
    survey = Survey.objects.get(name="Spring CSI")
    assert page["Location"] == reverse("surveys:edit", args=[survey.pk])
    assert survey.kind == "csi" and actions.latest_version(survey).questions.count() == 19
    edit = cx.get(page["Location"]).content.decode()
    assert "Ease of booking your service appointment" in edit


def test_edit_a_question_in_three_languages(cx, make_survey):
    survey = make_survey("csat")
    url = reverse("surveys:question", args=[survey.pk, "satisfaction"])
    assert "最近一次" in cx.get(url).content.decode()
    form = {
        "type": "rating",
        "required": "on",
        "page": "1",
        "role": "csat",
        "scale_max": "5",
        "text_en": "How was your visit?",
        "text_zh_hant": "這次來訪感覺如何？",
        "text_zh_hans": "这次来访感觉如何？",
        "low_en": "Awful",
        "high_en": "Great",
    }
    saved = cx.post(url, form)
    assert saved.status_code == 302
    draft = actions.latest_version(survey)
    question = draft.questions.get(key="satisfaction")
    assert draft.number == 2 and question.texts["zh-hans"] == "这次来访感觉如何？"
    assert question.low_labels == {"en": "Awful"} and question.scale_max == 5


def test_options_must_line_up_across_languages(cx, make_survey):
    survey = make_survey("csat")
    question = actions.save_question(
        survey, None, {"type": "single_choice", "texts": {"en": "Which?"}, "page": 2}
    )
    url = reverse("surveys:question", args=[survey.pk, question.key])
    base = {"type": "single_choice", "page": "2", "text_en": "Which branch?"}
    bad = cx.post(url, {**base, "options_en": "A\nB\nC", "options_zh_hant": "甲\n乙"})
    assert "same number of options" in bad.content.decode()
    good = cx.post(url, {**base, "options_en": "A\nB", "options_zh_hant": "甲\n乙"})
    assert good.status_code == 302
    question.refresh_from_db()
    assert [o["labels"] for o in question.options] == [
        {"en": "A", "zh-hant": "甲"},
        {"en": "B", "zh-hant": "乙"},
    ]


def test_add_move_remove_and_publish(cx, make_survey):
    survey = make_survey("nps")
    cx.post(reverse("surveys:add", args=[survey.pk]), {"type": "yes_no"})
    cx.post(reverse("surveys:move", args=[survey.pk, "q4"]), {"direction": "up"})
    cx.post(reverse("surveys:delete", args=[survey.pk, "improve"]))
    published = cx.post(reverse("surveys:publish", args=[survey.pk]))
    assert published.status_code == 302
    live = actions.live_version(survey)
    assert live.number == 2
    assert sorted(live.questions.values_list("key", flat=True)) == ["q4", "recommend", "why"]


def test_preview_is_the_customer_page_and_saves_nothing(cx, make_survey):
    survey = make_survey("nps")
    url = reverse("surveys:preview", args=[survey.pk])
    first = cx.get(url + "?lang=zh-hant").content.decode()
    assert "您有多大可能向親友或同事推薦我們？" in first and "Preview" in first or "預覽" in first
    second = cx.post(url + "?lang=en", {"page": "1", "q_recommend": "4", "lang": "en"})
    html = second.content.decode()
    assert "What one thing could we do better?" in html  # the condition, evaluated live
    carried = json.loads(
        html.split('name="preview_answers" value="')[1].split('"')[0].replace("&quot;", '"')
    )
    assert carried == {"recommend": 4}
    done = cx.post(
        url,
        {"page": "2", "q_why": "x", "lang": "en", "preview_answers": json.dumps(carried)},
    )
    assert "Thank you for your feedback." in done.content.decode()
    assert not Response.objects.exists() and not Invitation.objects.exists()
