"""The manager board: counts by state, breached and at risk, load and transfer rate per person,
the oldest open case, a unit selector within the manager's subtree."""

from __future__ import annotations

from django.urls import reverse

from rapport.cases import actions
from rapport.cases.actions import ownership
from tests.cases.test_views_inbox import make_cases
from tests.conftest import make_user

URL = reverse("cases:board")


def test_board_counts_and_people(client, users, customer, org, django_assert_max_num_queries):
    agent = users["taipei_agent"].staff
    colleague = make_user("tpagent2", org["taipei"], "agent").staff
    make_cases(customer, agent, 3)
    from django.utils import timezone

    make_cases(customer, agent, 1, start=5, resolve_breached_at=timezone.now())
    make_cases(customer, agent, 1, start=6, state="closed")
    case = make_cases(customer, agent, 1, start=7)[0]
    ownership.transfer(
        case.pk, case.version, colleague, "Knows the model", actions.Actor(staff=agent)
    )
    client.force_login(users["north_mgr"])
    with django_assert_max_num_queries(20):
        response = client.get(URL)
    assert response.status_code == 200
    ctx = response.context
    assert ctx["unit"] == org["north"]
    assert ctx["totals"]["open"] == 5 and ctx["totals"]["breached"] == 1
    by_state = {code: n for code, _label, n in ctx["states"]}
    assert by_state["in_progress"] == 5 and by_state["closed"] == 1
    people = {row["staff"]: row for row in ctx["people"]}
    assert people[agent]["open"] == 4 and people[agent]["transfers"] == 1
    assert people[agent]["rate"] == 1 / 6  # five still owned + one passed on
    assert people[colleague]["open"] == 1 and people[colleague]["rate"] == 0
    html = response.content.decode()
    assert "?tab=breached&amp;unit=" in html and f"owner={agent.pk}" in html
    # The unit selector lists the subtree only; another unit falls back to the manager's own.
    units = [pk for pk, _label in ctx["unit_choices"]]
    assert units == [org["north"].pk, org["taipei"].pk]
    other = client.get(URL, {"unit": org["kaohsiung"].pk})
    assert other.context["unit"] == org["north"]
    assert client.get(URL, {"unit": org["taipei"].pk}).context["unit"] == org["taipei"]


def test_agent_sees_their_unit_board_only(client, users, khh_customer):
    make_cases(khh_customer, users["khh_agent"].staff, 2)
    client.force_login(users["taipei_agent"])
    response = client.get(URL)
    assert response.context["totals"]["open"] == 0
