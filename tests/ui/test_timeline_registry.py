"""The timeline registry: another app's provider joins the customer page without changes to it,
and pages stay exact when entries of two types share an instant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from rapport.customers import timeline
from tests.ui.conftest import BASE


@pytest.fixture
def notes():
    """A 'note' provider for one test: two notes at the instant of Lin's purchase, one later."""
    moments = {
        1: BASE + timedelta(days=1),
        2: BASE + timedelta(days=1),
        3: BASE + timedelta(days=9),
    }

    def entries(customer, filters, before, limit):
        if filters.kind or filters.channel or filters.unit_path:
            return []  # filters a note cannot honour
        found = [timeline.Entry(at, "note", i, f"Note {i}") for i, at in moments.items()]
        if before is not None:
            found = [e for e in found if e.sort_key < before.sort_key]
        return sorted(found, key=lambda e: e.sort_key, reverse=True)[:limit]

    timeline.register(timeline.Provider(type="note", label="Notes", entries=entries))
    yield
    timeline._providers.pop("note")


def titles(response) -> list[str]:
    return [e.title for e in response.context["timeline"].entries]


def test_a_registered_provider_appears_in_order(people, as_user, notes):
    url = reverse("customers:detail", args=[people["lin"].pk])
    response = as_user("cx").get(url)
    # At the purchase's instant the order is by type, descending: touchpoint before note.
    assert titles(response)[:5] == ["Note 3", "Inquiry", "Purchase", "Note 2", "Note 1"]
    assert "Note 3" in response.content.decode()
    choices = response.context["filter_form"].fields["type"].choices
    assert ("note", "Notes") in [(v, str(label)) for v, label in choices]
    only_notes = as_user("cx").get(url, {"type": "note"})
    assert titles(only_notes) == ["Note 3", "Note 2", "Note 1"]
    assert "Note 1" not in titles(as_user("cx").get(url, {"kind": "purchase"}))


def test_pages_split_inside_one_instant(people, as_user, notes):
    """With a page of two, the cut falls between entries that share a timestamp."""
    lin = people["lin"]
    every = [e.title for e in timeline.page(lin, timeline.Filters(), None, 100).entries]
    seen: list[str] = []
    before = None
    while True:
        page = timeline.page(lin, timeline.Filters(), before, 2)
        seen += [e.title for e in page.entries]
        if page.next_cursor is None:
            break
        before = timeline.Cursor.parse(str(page.next_cursor))
    assert seen == every and len(every) == 8


def test_a_cursor_from_the_url_is_checked():
    assert timeline.Cursor.parse("junk") is None
    assert timeline.Cursor.parse("2025-01-01T00:00:00~touchpoint~1") is None  # naive time
    assert timeline.Cursor.parse("2025-13-01T00:00:00+00:00~touchpoint~1") is None
    cursor = timeline.Cursor.parse("2025-01-01T00:00:00+08:00~touchpoint~7")
    assert cursor is not None and cursor.id == 7 and str(cursor).endswith("~touchpoint~7")
