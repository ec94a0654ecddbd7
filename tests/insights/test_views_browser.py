"""Headless Chromium: the overview draws its charts and a click on a chart's bar opens the
customers behind it; on a phone the page does not scroll sideways."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from tests.insights.test_views_overview import insight_base  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MATRIX = "canvas[data-insights-chart='chart-matrix']"


@pytest.fixture
def browser():
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM beside Playwright's loop
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def signed_in(browser, live_server, user, phone: bool = False):
    client = Client()
    client.force_login(user)
    viewport = {"width": 375, "height": 812} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(viewport=viewport)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return context.new_page()


def test_charts_draw_and_a_bar_opens_its_customers(browser, live_server, users, insight_base):  # noqa: F811
    page = signed_in(browser, live_server, users["cx"])
    page.goto(f"{live_server.url}/insights/")
    canvas = page.locator("canvas[data-insights-chart='chart-matrix']")
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    assert page.evaluate(f"() => !!window.Chart.getChart(document.querySelector({MATRIX!r}))")
    # The matrix chart's second bar is "Locked in": click its middle.
    point = page.evaluate(
        """() => {
        const MATRIX = "canvas[data-insights-chart='chart-matrix']";
        const chart = window.Chart.getChart(document.querySelector(MATRIX));
        const bar = chart.getDatasetMeta(0).data[1];
        const box = chart.canvas.getBoundingClientRect();
        return {x: box.left + (bar.base + bar.x) / 2, y: box.top + bar.y};
    }"""
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(lambda url: "/insights/customers/" in url and "cell=locked_in" in url)
    assert str(insight_base.customers["C"].display_name) in page.locator("table").inner_text()


def test_overview_fits_a_phone(browser, live_server, users, insight_base):  # noqa: F811
    page = signed_in(browser, live_server, users["cx"], phone=True)
    page.goto(f"{live_server.url}/insights/")
    page.locator("canvas[data-insights-chart='chart-mix']").wait_for(state="visible")
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= 375 + 1
