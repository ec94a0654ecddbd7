"""Headless Chromium answers surveys end to end against a live server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rapport.surveys import actions
from rapport.surveys.models import Answer, Response

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("RAPPORT_SCREENSHOTS", "/tmp/rapport-screenshots"))


def phone(browser):
    return browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=1)


def pick_on_page(page, choose) -> None:
    """Answer every radio group on the page by clicking the label choose(values) picks."""
    groups = page.eval_on_selector_all(
        "fieldset[role=radiogroup]",
        "els => els.map(e => [e.id, [...e.querySelectorAll('input')].map(i => i.value)])",
    )
    for fieldset_id, values in groups:
        value = choose(values)
        page.locator(f"#{fieldset_id} input[value='{value}'] + span").click()


def test_customer_answers_the_csi_survey_in_zh_hant(browser, live_server, org):
    survey = actions.create_survey_from_template("csi", "CSI", publish=True)
    invitation, token = actions.create_invitation(
        actions.live_version(survey), channel="email", language="zh-hant"
    )
    page = phone(browser)
    page.goto(f"{live_server.url}/s/{token}/")
    assert page.locator("html").get_attribute("lang") == "zh-hant"
    assert "您最近一次的回廠保養維修" in page.locator("h1").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "csi-zh-hant-page1.png"), full_page=True)
    # Submitting an empty page shows the problems inline, in Chinese.
    page.get_by_role("button", name="下一頁").click()
    assert page.locator("#error-summary").is_visible()
    assert "請回答這一題。" in page.content()
    page.screenshot(path=str(SCREENSHOTS / "csi-zh-hant-errors.png"), full_page=True)
    for _ in range(5):
        pick_on_page(page, lambda values: values[-2])  # 9 of 10
        page.get_by_role("button", name="下一頁").click()
    assert "第 6 頁，共 6 頁" in page.content()
    page.locator("#q-return input[value='1'] + span").click()
    page.get_by_label("下次有什麼地方是我們應該改進的嗎？").fill("交車時間可以更準時。<b>謝謝</b>")
    page.screenshot(path=str(SCREENSHOTS / "csi-zh-hant-last.png"), full_page=True)
    page.get_by_role("button", name="送出").click()
    assert "謝謝您！服務團隊會仔細閱讀每一份回覆。" in page.content()
    page.screenshot(path=str(SCREENSHOTS / "csi-zh-hant-thanks.png"), full_page=True)
    response = Response.objects.get(invitation=invitation)
    assert response.state == "completed" and response.language == "zh-hant"
    assert response.csi_index == pytest.approx(1000 * 8 / 9, abs=0.01)
    comment = Answer.objects.get(response=response, question__key="comment")
    assert comment.value_text == "交車時間可以更準時。<b>謝謝</b>"
    page.goto(f"{live_server.url}/s/{token}/")
    assert "您已經填寫過這份問卷" in page.content()


def test_customer_answers_in_english_with_a_reload_half_way(browser, live_server, org):
    survey = actions.create_survey_from_template("engagement", "Bond", publish=True)
    invitation, token = actions.create_invitation(
        actions.live_version(survey), channel="email", language="zh-hans"
    )
    page = phone(browser)
    page.goto(f"{live_server.url}/s/{token}/")
    page.get_by_role("link", name="English").click()
    assert "How do you feel about us?" in page.locator("h1").inner_text()
    pick_on_page(page, lambda values: values[-1])
    page.get_by_role("button", name="Next").click()
    assert "Page 2 of 3" in page.content()
    page.reload()  # half-way: the respondent comes back later
    page.goto(f"{live_server.url}/s/{token}/")
    assert "Page 2 of 3" in page.content()
    assert "How do you feel about us?" in page.locator("h1").inner_text()  # English kept
    pick_on_page(page, lambda values: values[-1])
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Next").click()
    pick_on_page(page, lambda values: values[-1])
    page.screenshot(path=str(SCREENSHOTS / "engagement-en-page3.png"), full_page=True)
    page.get_by_role("button", name="Submit").click()
    assert "Your answers help us earn your trust." in page.content()
    response = Response.objects.get(invitation=invitation)
    assert response.tier == "fully_engaged" and response.language == "en"
