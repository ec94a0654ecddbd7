"""The knowledge page and the suggestions beside a case (rapport.cases.knowledge)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from rapport.cases import actions, knowledge
from rapport.cases.actions import lifecycle
from rapport.customers.models import Customer

from .conftest import MONDAY


@pytest.fixture
def resolved(users, org, open_case):
    """resolved(subject, cause, fix, unit=..., reusable=True, days=0) → a resolved case."""
    counter = iter(range(1000))

    def make(subject, cause, fix, unit="taipei", reusable=True, days=0, sub_cause=""):
        n = next(counter)
        customer = Customer.objects.create(
            display_name=f"Secret Person {n}", email=f"k{n}@example.com", home_unit=org[unit]
        )
        case = open_case(customer, subject=subject, now=MONDAY + dt.timedelta(days=days))
        at = MONDAY + dt.timedelta(days=days, hours=2)
        lifecycle.acknowledge(case.pk, None, actions.SYSTEM, now=at)
        return lifecycle.resolve(
            case.pk,
            None,
            actions.SYSTEM,
            cause=cause,
            fix=fix,
            sub_cause=sub_cause,
            reusable=reusable,
            now=at,
        )

    return make


def test_search_by_words_and_cause(resolved):
    brake = resolved("Brake noise after service", "core_failure", "Replaced the brake pads free")
    resolved("Invoice too high", "price", "Explained the labour rate, gave a voucher")
    resolved("Brake squeal", "core_failure", "Not shared", reusable=False)
    assert [c.pk for c in knowledge.search("brake")] == [brake.pk]
    assert [c.pk for c in knowledge.search("pads free", "core_failure")] == [brake.pk]
    assert list(knowledge.search("brake", "price")) == []
    counts = {code: n for code, _label, n in knowledge.cause_counts()}
    assert counts["core_failure"] == 1 and counts["price"] == 1 and counts["ethics"] == 0


def test_suggestions_same_cause_ranked_by_shared_words(resolved, customer, open_case):
    old = resolved("Brake noise", "core_failure", "Re-bled the brakes", days=0)
    best = resolved("Brake noise again after service", "core_failure", "Brake pads", days=1)
    newer = resolved("Engine light", "core_failure", "Reset the sensor", days=2)
    resolved("Brake noise", "price", "Discount", days=3)  # another cause
    case = open_case(customer, subject="Brake noise after my service")
    case.cause = "core_failure"
    got = knowledge.suggestions_for(case, limit=3)
    assert [c.pk for c in got] == [best.pk, old.pk, newer.pk]
    assert case.pk not in [c.pk for c in knowledge.suggestions_for(case)]


def test_suggestions_before_the_cause_is_known_use_the_topic(resolved, customer, open_case):
    same_topic = resolved("Waited two hours", "service_encounter", "Apologised, free wash")
    case = open_case(customer, subject="Waited too long", topic="experience")
    assert [c.pk for c in knowledge.suggestions_for(case)] == [same_topic.pk]
    other = open_case(customer, subject="x", topic="billing")
    assert knowledge.suggestions_for(other) == []


def test_snippet_renders_suggestions(resolved, customer, open_case):
    resolved("Brake noise", "core_failure", "Replaced <pads>")
    case = open_case(customer, subject="Brake noise")
    html = render_to_string(
        "cases/learning/_suggestions.html", {"suggestions": knowledge.suggestions_for(case)}
    )
    assert "Brake noise" in html and "Replaced &lt;pads&gt;" in html
    empty = render_to_string("cases/learning/_suggestions.html", {"suggestions": []})
    assert "No reusable resolution" in empty


def test_page_searches_and_links_only_visible_cases(client, users, resolved):
    mine = resolved("Brake noise Taipei", "core_failure", "Pads", unit="taipei")
    theirs = resolved("Brake noise Kaohsiung", "core_failure", "Discs", unit="kaohsiung")
    client.force_login(users["taipei_agent"])
    page = client.get(reverse("cases:knowledge"), {"q": "brake", "cause": "core_failure"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Brake noise Taipei" in html and "Brake noise Kaohsiung" in html  # shared knowledge
    assert reverse("cases:detail", args=[mine.pk]) in html
    assert reverse("cases:detail", args=[theirs.pk]) not in html  # not their unit's case
    assert "Secret Person" not in html and "k0@example.com" not in html  # no customer data
    empty = client.get(reverse("cases:knowledge"), {"q": "nothing-like-this"})
    assert "No reusable resolution matches" in empty.content.decode()


def test_page_needs_login(client, db):
    response = client.get(reverse("cases:knowledge"))
    assert response.status_code == 302
