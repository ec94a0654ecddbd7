"""The agent inbox: tabs, filters, sort by due, badges, paging, scoping and a fixed query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rapport.cases import states
from rapport.cases.models import Case
from rapport.customers.models import Customer

URL = reverse("cases:inbox")


def make_cases(customer, owner, n, start=0, **fields):
    now = timezone.now()
    rows = []
    for i in range(start, start + n):
        values = {
            "customer": customer,
            "topic": f"t{i}",
            "subject": f"Subject {i}",
            "source": "manual",
            "severity": "medium",
            "priority": "p3",
            "unit": owner.unit,
            "owner": owner,
            "state": "in_progress",
            "opened_at": now - dt.timedelta(hours=i),
            "assigned_at": now,
            "resolve_due_at": now + dt.timedelta(days=2, hours=i),
            "resolve_warn_at": now + dt.timedelta(days=1, hours=i),
        }
        values.update(fields)
        # As the actions keep it: the earliest pending warning or due instant.
        values.setdefault("sla_next_at", min(values["resolve_warn_at"], values["resolve_due_at"]))
        rows.append(Case(**values))
    return Case.objects.bulk_create(rows)


@pytest.fixture
def agent_client(client, users):
    client.force_login(users["taipei_agent"])
    return client


def refs(response):
    return [row["case"].ref for row in response.context["rows"]]


def test_agent_sees_mine_first_then_the_unit(agent_client, users, customer, org):
    me, colleague_unit_mgr = users["taipei_agent"].staff, users["north_mgr"].staff
    mine = make_cases(customer, me, 3)
    theirs = make_cases(customer, colleague_unit_mgr, 2, start=10)
    response = agent_client.get(URL)
    assert response.status_code == 200 and response.context["tab"] == "mine"
    assert set(refs(response)) == {c.ref for c in mine}
    # Sorted by due: the earliest resolution first.
    assert refs(response) == [c.ref for c in sorted(mine, key=lambda c: c.resolve_due_at)]
    response = agent_client.get(URL, {"tab": "all"})
    # North's manager's cases sit in North, above Taipei: not in the agent's subtree.
    assert set(refs(response)) == {c.ref for c in mine}
    theirs_in_taipei = make_cases(customer, me, 1, start=20, unit=org["taipei"])
    assert len(refs(agent_client.get(URL, {"tab": "all"}))) == 4
    assert theirs and theirs_in_taipei


def test_other_units_cases_never_show(client, users, customer, khh_customer):
    make_cases(khh_customer, users["khh_agent"].staff, 2)
    client.force_login(users["taipei_agent"])
    for tab in ("mine", "all", "breached", "due_soon", "approval"):
        assert refs(client.get(URL, {"tab": tab})) == []
    client.force_login(users["cx"])
    assert len(refs(client.get(URL, {"tab": "all"}))) == 2


def test_tabs_due_soon_breached_and_approval(agent_client, users, customer):
    me = users["taipei_agent"].staff
    now = timezone.now()
    calm = make_cases(customer, me, 1)
    soon = make_cases(
        customer,
        me,
        1,
        start=1,
        resolve_due_at=now + dt.timedelta(hours=1),
        resolve_warn_at=now - dt.timedelta(hours=1),
    )
    late = make_cases(
        customer,
        me,
        1,
        start=2,
        resolve_due_at=now - dt.timedelta(hours=1),
        resolve_breached_at=now,
    )
    waiting = make_cases(customer, me, 1, start=3, state="awaiting_approval")
    assert refs(agent_client.get(URL, {"tab": "due_soon"})) == [soon[0].ref]
    assert refs(agent_client.get(URL, {"tab": "breached"})) == [late[0].ref]
    assert refs(agent_client.get(URL, {"tab": "approval"})) == [waiting[0].ref]
    html = agent_client.get(URL, {"tab": "mine"}).content.decode()
    assert "clock-breached" in html and "clock-warning" in html and calm[0].ref in html
    assert "badge prio-p3" in html and "state-in_progress" in html


def test_filters_state_priority_and_owner(agent_client, users, customer):
    me = users["taipei_agent"].staff
    make_cases(customer, me, 2)
    urgent = make_cases(customer, me, 1, start=5, priority="p1")
    closed = make_cases(customer, me, 1, start=6, state="closed")
    assert refs(agent_client.get(URL, {"tab": "mine", "priority": "p1"})) == [urgent[0].ref]
    assert refs(agent_client.get(URL, {"tab": "mine", "state": "closed"})) == [closed[0].ref]
    assert closed[0].ref not in refs(agent_client.get(URL, {"tab": "mine"}))  # open only
    by_owner = refs(agent_client.get(URL, {"tab": "all", "owner": users["taipei_agent"].staff.pk}))
    assert len(by_owner) == 3
    # Bad input is ignored, never a crash.
    assert agent_client.get(URL, {"tab": "nope", "unit": "x", "page": "zz"}).status_code == 200


def test_pages_and_htmx_fragment(agent_client, users, customer):
    make_cases(customer, users["taipei_agent"].staff, 30)
    first = agent_client.get(URL)
    assert len(refs(first)) == 25 and first.context["has_next"]
    second = agent_client.get(URL, {"page": 2})
    assert len(refs(second)) == 5 and not second.context["has_next"]
    assert not set(refs(first)) & set(refs(second))
    due = [r["case"].resolve_due_at for r in first.context["rows"] + second.context["rows"]]
    assert due == sorted(due)
    fragment = agent_client.get(
        URL, {"tab": "mine"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-results"
    )
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section id="inbox-results">') and "<html" not in html


def test_query_count_is_fixed(agent_client, users, customer, django_assert_num_queries):
    me = users["taipei_agent"].staff
    agent_client.get(URL)  # warm the session and permission caches
    make_cases(customer, me, 3)
    with django_assert_num_queries(15) as few:  # 8 + 6 states + rows
        agent_client.get(URL, {"tab": "all"})
    others = [Customer.objects.create(display_name=f"X{i}", home_unit=me.unit) for i in range(5)]
    for i, other in enumerate(others):
        make_cases(other, me, 10, start=100 + 10 * i)
    with django_assert_num_queries(len(few.captured_queries)):
        response = agent_client.get(URL, {"tab": "all"})
    assert len(refs(response)) == 25
    for query in few.captured_queries:  # no per-row queries; one list query joins the rest
        assert "cases_caseevent" not in query["sql"]


def query_plan(sql: str) -> str:
    """The plan the database picks for `sql`, as text (index scans are preferred to a full read of
    the few test rows on PostgreSQL, as at scale; SQLite picks from the indexes alone)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row) for row in cursor.fetchall())


def test_breached_tab_reads_the_partial_index_alone(agent_client, users, customer):
    """Each state's query of the Breached tab is served by the partial index of breached cases
    (never a scan of a state's open cases in due order), in as many queries as the other tabs."""
    me = users["taipei_agent"].staff
    make_cases(customer, me, 30)
    late = make_cases(customer, me, 3, start=40, resolve_breached_at=timezone.now())
    make_cases(customer, me, 2, start=50, state="closed", resolve_breached_at=timezone.now())
    with CaptureQueriesContext(connection) as seen:
        response = agent_client.get(URL, {"tab": "breached"})
    assert refs(response) == [c.ref for c in sorted(late, key=lambda c: c.resolve_due_at)]
    assert len(seen.captured_queries) == 15  # as the All tab: 8 + 6 states + rows
    per_state = [
        q["sql"] for q in seen.captured_queries if "LIMIT" in q["sql"] and "breached_at" in q["sql"]
    ]
    assert len(per_state) == len(states.OPEN_STATES)
    for sql in per_state:
        assert "case_breached_state_due" in query_plan(sql), sql


def test_analyst_sees_everything_but_cannot_open(client, users, customer):
    make_cases(customer, users["taipei_agent"].staff, 1)
    client.force_login(users["analyst"])
    response = client.get(URL)
    assert response.context["tab"] == "all" and len(refs(response)) == 1
    assert reverse("cases:create") not in response.content.decode()
