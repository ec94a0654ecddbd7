"""Headless Chromium for the tests people click through: Debian's chromium driven by Playwright.

`make test` installs chromium and the CJK fonts (scripts/ensure-browser); the `browser` fixture in
tests/conftest.py launches it once per test.
"""

from __future__ import annotations

from typing import Any

from django.test import Client

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def signed_in(browser: Any, live_server: Any, user: Any, phone: bool = False) -> Any:
    """A page carrying the user's session (signed in through Django's test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=PHONE if phone else DESKTOP)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return context.new_page()
