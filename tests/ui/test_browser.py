"""In a real browser: sign in, switch to 繁體中文, search a customer, open and filter the timeline,
at desktop and at phone width. Screenshots go to /tmp for a person to look at."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from tests.ui.conftest import add_touchpoints

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("RAPPORT_SCREENSHOTS", "/tmp")


@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (375, 812, "phone")])
def test_sign_in_switch_to_chinese_search_and_filter(
    live_server, browser, users, people, sources, width, height, name
):
    add_touchpoints(
        people["lin"], sources["crm"], 60, prefix="web", kind="web_visit", channel="web"
    )
    add_touchpoints(people["lin"], sources["dms"], 20, prefix="now", start=timezone.now())
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "tpagent")
    page.fill("#id_password", "pw-tpagent-Secret1")
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.wait_for_function("window.Chart && Object.keys(Chart.instances).length === 1")
    page.screenshot(path=f"{SHOTS}/rapport-home-{name}.png", full_page=True)

    page.select_option("#language", "zh-hant")  # submits by itself with JavaScript on
    page.wait_for_selector("html[lang=zh-hant]")
    assert "首頁" in page.inner_text("nav.mainnav")

    page.goto(live_server.url + "/customers/")
    page.fill("#id_q", "0912345678")
    page.press("#id_q", "Enter")
    page.wait_for_selector("#results >> text=Lin Mei-ling")
    assert page.locator("#results tbody tr").count() == 1
    page.click("#results >> text=Lin Mei-ling")
    page.wait_for_selector("#timeline")
    assert "時間軸" in page.inner_text("main")
    assert page.locator("#timeline ol.timeline > li").count() == 50
    page.screenshot(path=f"{SHOTS}/rapport-customer-{name}.png", full_page=False)

    page.select_option("#id_kind", "purchase")  # htmx swaps the timeline in place
    page.wait_for_function("document.querySelectorAll('#timeline ol.timeline > li').length === 1")
    assert "購買" in page.inner_text("#timeline")
    assert "kind=purchase" in page.url  # the filter is in the address, so it can be shared
    page.screenshot(path=f"{SHOTS}/rapport-timeline-filtered-{name}.png", full_page=True)

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways at {width}px"
    page.close()
