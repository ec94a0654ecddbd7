"""Headless Chromium: a customer sends feedback from a phone; a manager reads the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rapport.feedback.models import FeedbackItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(os.environ.get("RAPPORT_SCREENSHOTS", "/tmp/rapport-screenshots"))


def test_feedback_from_a_phone_then_the_dashboard(browser, live_server, org, users):
    page = browser.new_page(viewport={"width": 375, "height": 812})
    page.goto(f"{live_server.url}/feedback/give/?channel=widget&unit=taipei&lang=zh-hant")
    assert page.locator("html").get_attribute("lang") == "zh-hant"
    page.get_by_role("button").last.click()  # empty: refused in place
    assert FeedbackItem.objects.count() == 0
    page.locator("textarea[name=text]").fill("<b>等太久</b>了,服務人員態度很差,非常失望。")
    page.locator("input[name=contact]").fill("ann@example.com")
    page.get_by_role("button").last.click()
    page.wait_for_url("**/give/thanks/")
    row = FeedbackItem.objects.get()
    assert (row.channel, row.unit_id) == ("widget", org["taipei"].pk)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "admin1")
    page.fill("input[name=password]", "pw-admin1-Secret1")
    page.locator("form button[type=submit]").last.click()
    page.goto(f"{live_server.url}/feedback/")
    assert page.locator(".stat .value").first.inner_text() == "1"
    assert page.locator("blockquote.fb-quote b").count() == 0  # the markup stays text
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1  # no sideways scrolling on a phone
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "feedback-dashboard-phone.png"), full_page=True)
