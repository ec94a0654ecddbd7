"""Themes: create and edit, matched on new feedback, promoted from an emerging cluster."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rapport.feedback.actions import record_feedback
from rapport.feedback.models import FeedbackItem, Theme
from tests.feedback.conftest import item

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_create_edit_and_match_a_theme(org, users):
    client = as_user(users["cx"])
    response = client.post(
        reverse("feedback:theme_new"),
        {
            "name": "Parking",
            "key": "",
            "active": "on",
            "keywords_text": "parking, 停車",
            "examples_text": "",
        },
    )
    assert response.status_code == 302
    theme = Theme.objects.get()
    assert (theme.key, theme.keywords) == ("parking", ["parking", "停車"])
    (done,) = record_feedback([item("No parking space again, 停車位都滿了")])
    assert [t for t, _c in FeedbackItem.objects.get(pk=done.id).themes] == ["parking"]
    edit = client.post(
        reverse("feedback:theme_edit", args=[theme.pk]),
        {"name": "Parking", "key": "parking", "keywords_text": "", "examples_text": ""},
    )
    assert edit.status_code == 200 and "at least one keyword" in edit.content.decode()
    assert as_user(users["cx"]).get(reverse("feedback:themes")).status_code == 200


def test_only_managers_manage_themes(org, users):
    agent = as_user(users["taipei_agent"])
    assert agent.get(reverse("feedback:theme_new")).status_code == 403
    assert (
        agent.post(reverse("feedback:promote"), {"name": "x", "keywords": "y"}).status_code == 403
    )
    assert as_user(users["analyst"]).get(reverse("feedback:themes")).status_code == 200


def test_promote_a_cluster_to_a_theme(org, users):
    client = as_user(users["cx"])
    Theme.objects.create(key="loaner-cars", name="x", keywords=["x"])
    response = client.post(
        reverse("feedback:promote"),
        {
            "name": "Loaner cars",
            "keywords": "loaner, 代步車",
            "quote": ["No loaner car", "沒有代步車"],
            "size": "7",
        },
    )
    assert response.status_code == 302
    theme = Theme.objects.get(name="Loaner cars")
    assert theme.key == "loaner-cars-2"  # the key was taken
    assert theme.keywords == ["loaner", "代步車"]
    assert theme.examples == ["No loaner car", "沒有代步車"]
    assert theme.promoted_from_cluster["size"] == "7"
    missing = client.post(reverse("feedback:promote"), {"name": "", "keywords": ""})
    assert missing.status_code == 302 and Theme.objects.count() == 2


def test_emerging_themes_show_clusters_of_uncovered_feedback(lin, users):
    texts = [
        "No loaner car was available while my car was repaired",
        "They had no loaner car for me during the repair",
        "I needed a loaner car but none was available",
        "Loaner car not available again during service",
        "沒有代步車可以借,很不方便",
        "維修期間沒有代步車",
        "The coffee machine in the waiting room is broken",
        "Waiting room coffee machine broken again",
        "The coffee machine in the lounge never works",
        "Please fix the coffee machine in the waiting area",
    ]
    record_feedback([item(t, customer_id=lin.pk) for t in texts])
    client = as_user(users["cx"])
    page = client.get(reverse("feedback:emerging"))
    assert page.status_code == 200
    clusters = page.context["clusters"]
    assert clusters, "expected at least one emerging cluster"
    for c in clusters:
        assert c["quotes"] and c["name"] and c["size"] >= 2
    html = page.content.decode()
    assert "Promote to theme" in html
    # themes are for managers and analysts
    agent_page = as_user(users["taipei_agent"]).get(reverse("feedback:emerging"))
    assert agent_page.status_code == 403  # agents have no theme permissions


LOANER = [
    "No loaner car was available while my car was repaired",
    "They had no loaner car for me during the repair",
    "I needed a loaner car but none was available",
    "Loaner car not available again during service",
    "沒有代步車可以借,很不方便",
    "維修期間沒有代步車",
]
COFFEE = [
    "The coffee machine in the waiting room is broken",
    "Waiting room coffee machine broken again",
    "The coffee machine in the lounge never works",
    "Please fix the coffee machine in the waiting area",
]


def test_emerging_clusters_are_cached_until_the_feedback_or_themes_change(lin, users):
    record_feedback([item(t, customer_id=lin.pk) for t in LOANER + COFFEE[:2]])
    client = as_user(users["cx"])
    first = client.get(reverse("feedback:emerging")).context["clusters"]
    assert first and client.get(reverse("feedback:emerging")).context["clusters"] == first
    record_feedback([item(t, customer_id=lin.pk) for t in COFFEE[2:]])
    after_items = client.get(reverse("feedback:emerging")).context["clusters"]
    assert after_items != first
    Theme.objects.create(key="loaner", name="Loaner cars", keywords=["loaner"], active=True)
    after_theme = client.get(reverse("feedback:emerging")).context["clusters"]
    assert after_theme != after_items
