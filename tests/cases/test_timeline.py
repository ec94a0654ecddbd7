"""Cases on the Customer 360 timeline, through the timeline's provider mechanism."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from rapport.customers import timeline
from tests.cases.conftest import MONDAY


def test_cases_join_the_customer_timeline(client, users, customer, open_case, org):
    first = open_case(customer, topic="delivery", subject="Late delivery")
    second = open_case(
        customer, now=MONDAY + dt.timedelta(days=1), topic="paint", subject="Scratch"
    )
    assert "case" in [p.type for p in timeline.providers()]
    page = timeline.page(customer, timeline.Filters())
    cases = [e for e in page.entries if e.type == "case"]
    assert [e.id for e in cases] == [second.pk, first.pk]
    assert cases[0].title == f"Case {second.ref} opened: Scratch"
    # Paging by cursor continues after the entry.
    after = timeline.page(customer, timeline.Filters(type="case"), before=cases[0].cursor)
    assert [e.id for e in after.entries] == [first.pk]
    # Filters: another unit's subtree, a kind of touchpoint, a period.
    assert not timeline.page(customer, timeline.Filters(unit_path=org["south"].path)).entries
    assert not timeline.page(customer, timeline.Filters(kind="complaint", type="case")).entries
    assert (
        len(
            timeline.page(customer, timeline.Filters(since=MONDAY + dt.timedelta(hours=12))).entries
        )
        == 1
    )
    client.force_login(users["taipei_agent"])
    html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "Late delivery" in html and reverse("cases:detail", args=[first.pk]) in html
