"""The agent inbox: the viewer's cases by tab (mine, all, due soon, breached, awaiting approval)
and filters, earliest resolution due first, a page at a time, each with its most urgent clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy

from rapport.cases import clocks, forms, states
from rapport.cases.models import BREACHED, Case
from rapport.cases.views_access import can_configure, is_manager, subtree_ids, viewer, visible_units
from rapport.core.views import is_htmx, staff_view
from rapport.org.models import Staff
from rapport.org.scoping import unit_path

CASES_PER_PAGE = 25
MAX_PAGE = 40  # the first 1,000 cases of a view; deeper, narrow it with the filters
DUE_SOON = dt.timedelta(hours=4)
CLOCK_RANK = {"breached": 4, "warning": 3, "paused": 2, "running": 1, "missed": 0, "met": 0}
CLOCK_NAMES = {
    "ack": gettext_lazy("Acknowledge"),
    "response": gettext_lazy("First response"),
    "resolve": gettext_lazy("Resolve"),
}
CLOCK_TEXTS = {
    "breached": gettext_lazy("breached"),
    "warning": gettext_lazy("due soon"),
    "paused": gettext_lazy("paused"),
    "running": gettext_lazy("on time"),
}


def worst_clock(case: Case, now: dt.datetime) -> dict[str, Any] | None:
    """The clock that matters most in a list: breached, then warning, paused, running (earliest
    due first); None when every clock is done."""
    fields = {name: getattr(case, name) for name in clocks.CLOCK_FIELDS}
    rows = [
        c for c in clocks.status(fields, now, case.paused_at is not None) if CLOCK_RANK[c["state"]]
    ]
    if not rows:
        return None
    worst = max(
        rows,
        key=lambda c: (CLOCK_RANK[c["state"]], -(c["due_at"].timestamp() if c["due_at"] else 0)),
    )
    return {**worst, "name": CLOCK_NAMES[worst["target"]], "text": CLOCK_TEXTS[worst["state"]]}


def due_soon_q(now: dt.datetime) -> Q:
    """A running clock is due within DUE_SOON. `sla_next_at` (the earliest pending warning or
    due instant, partially indexed) is at or before any such due: it narrows the rows first."""
    soon = now + DUE_SOON
    return Q(sla_next_at__lte=soon, paused_at__isnull=True) & (
        Q(ack_due_at__lte=soon, acknowledged_at__isnull=True, ack_breached_at__isnull=True)
        | Q(
            response_due_at__lte=soon,
            first_response_at__isnull=True,
            response_breached_at__isnull=True,
        )
        | Q(resolve_due_at__lte=soon, resolved_at__isnull=True, resolve_breached_at__isnull=True)
    )


def page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), MAX_PAGE))
    except ValueError:
        return 1


def due_ordered_page(qs: QuerySet[Case], wanted: list[str], number: int) -> tuple[list[Case], bool]:
    """One page of `qs` in resolution-due order, and whether there is a next page.

    One narrow query per state reads (due, id) in index order — the (unit | owner, state,
    resolve due) indexes serve each one with an ordered range scan that stops at the page's end;
    on the Breached tab the partial index of breached cases (state, unit, resolve due) does, so
    only breached cases are read — the keys are merged here, and one query fetches the page's rows
    with customer, owner and unit joined in. So the first pages cost the same with 100 or 100,000
    open cases."""
    need = number * CASES_PER_PAGE + 1
    keys: list[tuple[dt.datetime, int]] = []
    for state in wanted:
        # Ordered by the indexed column alone, so the index order serves (ties: see the merge).
        keys.extend(
            qs.filter(state=state)
            .order_by("resolve_due_at")
            .values_list("resolve_due_at", "pk")[:need]
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    keys.sort(key=lambda k: (k[0] or far, k[1]))
    start = (number - 1) * CASES_PER_PAGE
    chosen = [pk for _due, pk in keys[start : start + CASES_PER_PAGE]]
    rows = {
        c.pk: c
        for c in Case.objects.filter(pk__in=chosen).select_related("customer", "owner", "unit")
    }
    return [rows[pk] for pk in chosen if pk in rows], len(keys) > start + CASES_PER_PAGE


@staff_view("cases.view_case")
def inbox(request: HttpRequest) -> HttpResponse:
    """Cases of the viewer's units, earliest resolution due first, a page at a time."""
    staff = viewer(request)
    units = visible_units(request)
    owners = list(
        Staff.objects.filter(active=True, unit__in=units).exclude(role=Staff.Role.ANALYST)
    )
    form = forms.InboxFilterForm(request.GET or None, units=units, owners=owners)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    default_tab = "mine" if staff is not None and staff.role == Staff.Role.AGENT else "all"
    tab = data.get("tab") or default_tab
    now = timezone.now()
    qs = Case.objects.all()
    prefix = unit_path(request.user)
    by_owner = tab == "mine" or bool(data.get("owner"))
    if prefix and by_owner:
        # One person's cases: the (owner, state, due) index leads; the scope joins the unit.
        qs = qs.filter(unit__path__startswith=prefix)
    elif prefix:  # a subtree: the unit ids lead the (unit, state, due) index
        qs = qs.filter(unit_id__in=[u.pk for u in units])
    elif not units and not request.user.is_superuser:
        qs = qs.none()
    if data.get("unit"):
        root = next(u for u in units if str(u.pk) == data["unit"])
        if by_owner:
            qs = qs.filter(unit__path__startswith=root.path)
        else:
            qs = qs.filter(unit_id__in=subtree_ids(units, root))
    wanted = [data["state"]] if data.get("state") else sorted(states.OPEN_STATES)
    if data.get("priority"):
        qs = qs.filter(priority=data["priority"])
    if data.get("owner"):
        qs = qs.filter(owner_id=int(data["owner"]))
    if tab == "mine":
        qs = qs.filter(owner=staff) if staff is not None else qs.none()
    elif tab == "due_soon":
        qs = qs.filter(due_soon_q(now))
    elif tab == "breached":
        qs = qs.filter(BREACHED)
    elif tab == "approval":
        wanted = [s for s in wanted if s == states.AWAITING_APPROVAL]
    number = page_number(request.GET.get("page"))
    cases, has_next = due_ordered_page(qs, wanted, number)
    keep = {k: v for k, v in request.GET.items() if k not in {"tab", "page"}}
    context = {
        "form": form,
        "tab": tab,
        "tabs": forms.INBOX_TABS,
        "rows": [{"case": c, "clock": worst_clock(c, now)} for c in cases],
        "number": number,
        "has_next": has_next and number < MAX_PAGE,
        "last_page": has_next and number >= MAX_PAGE,
        "page_query": {
            "previous": urlencode({**keep, "tab": tab, "page": number - 1}),
            "next": urlencode({**keep, "tab": tab, "page": number + 1}),
        },
        "tab_query": {key: urlencode({**keep, "tab": key}) for key in forms.INBOX_TABS},
        "can_add": request.user.has_perm("cases.add_case"),
        "can_approve": request.user.has_perm("cases.view_approvalrequest"),
        "is_manager": is_manager(request),
        "can_configure": can_configure(request.user),
    }
    if is_htmx(request, "inbox-results"):
        return render(request, "cases/_inbox_results.html", context)
    return render(request, "cases/inbox.html", context)
