"""Layout: sign in/out, navigation by role, the language switch, error pages, static assets."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse


def test_login_page_and_sign_in(users, client):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and "Sign in to Rapport" in page.content.decode()
    response = client.post(
        reverse("login"), {"username": "tpagent", "password": "pw-tpagent-Secret1"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    bad = Client().post(reverse("login"), {"username": "tpagent", "password": "wrong"})
    assert "didn't match" in bad.content.decode()


def test_logout_is_a_post(users, as_user):
    client = as_user("cx")
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # signed out


def nav(client) -> list[str]:
    return [str(i["label"]) for i in client.get(reverse("home")).context["nav_items"]]


def test_navigation_follows_the_role(users, as_user):
    areas = ["Home", "Customers", "Review queue", "Surveys", "Cases", "Feedback", "Insights"]
    assert nav(as_user("admin")) == [*areas, "API keys", "Webhooks", "Admin"]
    assert nav(as_user("cx")) == [*areas, "API keys", "Webhooks"]
    assert nav(as_user("analyst")) == areas
    agent = nav(as_user("taipei_agent"))
    assert agent[:2] == ["Home", "Customers"] and "Cases" in agent and "Feedback" in agent
    assert "API keys" not in agent and "Insights" not in agent


def test_the_current_area_is_marked(people, as_user):
    items = as_user("cx").get(reverse("customers:reviews")).context["nav_items"]
    assert [str(i["label"]) for i in items if i["current"]] == ["Review queue"]


def test_language_switch_persists(users, as_user):
    client = as_user("cx")
    response = client.post(
        reverse("set_language"), {"language": "zh-hant", "next": reverse("customers:list")}
    )
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    body = client.get(reverse("customers:list")).content.decode()
    assert '<html lang="zh-hant">' in body and "客戶" in body and "搜尋" in body
    client.post(reverse("set_language"), {"language": "zh-hans"})
    body = client.get(reverse("customers:list")).content.decode()
    assert "客户" in body and "搜索" in body


def test_accept_language_chooses_chinese(users, client):
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "登入" in body
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "登录" in body


def test_error_pages_use_the_layout_and_translate(people, as_user):
    client = as_user("taipei_agent")
    missing = client.get(reverse("customers:detail", args=[people["chen"].pk]))
    assert missing.status_code == 404 and "Page not found" in missing.content.decode()
    forbidden = client.get(reverse("integrations:keys"))
    assert forbidden.status_code == 403 and "You may not do this" in forbidden.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    missing = client.get(reverse("customers:detail", args=[people["chen"].pk]))
    assert "找不到" in missing.content.decode()


def test_server_error_page_renders_standalone(rf):
    from django.views.defaults import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_vendored_assets_are_there():
    for path in [
        "vendor/htmx/htmx.min.js",
        "vendor/chartjs/chart.umd.min.js",
        "vendor/htmx/LICENSE",
        "vendor/chartjs/LICENSE.md",
        "rapport/rapport.css",
    ]:
        assert finders.find(path), path


def test_scripts_and_styles_come_from_our_static_files(people, as_user):
    body = as_user("cx").get(reverse("home")).content.decode()
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', body)
    assert len(assets) >= 3
    assert all(a.startswith(settings.STATIC_URL) for a in assets), assets


def test_anonymous_post_to_set_language_works_without_js(client):
    response = Client().post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
