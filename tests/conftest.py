"""Shared fixtures: real database, real org tree, real users in real roles."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User

from rapport.org.models import OrgUnit, Staff


@pytest.fixture(autouse=True)
def test_settings(settings):
    """Static files from the source tree (the manifest exists only after collectstatic), and a
    fast password hasher: the `users` fixture creates six logins per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium (tests/browsing.py). Playwright's sync API keeps an event loop running
    in this thread; the ORM calls the test makes meanwhile are still plain synchronous ones."""
    from tests.browsing import ARGS, CHROMIUM

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-browser installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def org(db):
    """enterprise → north/south regions → one branch each, with an agent per branch."""
    ent = OrgUnit.objects.create(
        code="acme", name="Acme Motors", kind="enterprise", time_zone="Asia/Taipei"
    )
    north = OrgUnit.objects.create(
        code="north", name="North", kind="region", parent=ent, time_zone="Asia/Taipei"
    )
    south = OrgUnit.objects.create(
        code="south", name="South", kind="region", parent=ent, time_zone="Asia/Taipei"
    )
    taipei = OrgUnit.objects.create(
        code="taipei", name="Taipei", kind="branch", parent=north, time_zone="Asia/Taipei"
    )
    kaohsiung = OrgUnit.objects.create(
        code="kaohsiung", name="Kaohsiung", kind="branch", parent=south, time_zone="Asia/Taipei"
    )
    return {"ent": ent, "north": north, "south": south, "taipei": taipei, "kaohsiung": kaohsiung}


def make_user(username: str, unit: OrgUnit, role: str) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username + "-Secret1")
    Staff.objects.create(
        user=user, code=username, display_name=username.title(), unit=unit, role=role
    )
    user.refresh_from_db()
    return user


@pytest.fixture
def users(org):
    return {
        "admin": make_user("admin1", org["ent"], "admin"),
        "cx": make_user("cx1", org["ent"], "cx_manager"),
        "north_mgr": make_user("northmgr", org["north"], "unit_manager"),
        "taipei_agent": make_user("tpagent", org["taipei"], "agent"),
        "khh_agent": make_user("khhagent", org["kaohsiung"], "agent"),
        "analyst": make_user("analyst1", org["ent"], "analyst"),
    }
