"""The manager board: a unit's cases at a glance (by state, breached and at risk, load and
transfer rate per person, the oldest open), aggregated in SQL."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from rapport.cases import states
from rapport.cases.models import BREACHED, ApprovalRequest, Case, Transfer
from rapport.cases.views_access import subtree_ids, viewer, visible_units
from rapport.cases.views_inbox import due_soon_q
from rapport.core.views import staff_view
from rapport.org.models import Staff

TRANSFER_WINDOW_DAYS = 90


@staff_view("cases.view_case")
def board(request: HttpRequest) -> HttpResponse:
    """A unit's cases at a glance: by state, breached and at risk, load and transfer rate per
    person, the oldest open. Aggregates in SQL."""
    units = visible_units(request)
    if not units:
        raise Http404
    staff = viewer(request)
    default = next((u for u in units if staff is not None and u.pk == staff.unit_id), units[0])
    chosen = request.GET.get("unit", "")
    unit = next((u for u in units if str(u.pk) == chosen), default)
    ids = subtree_ids(units, unit)
    now = timezone.now()
    cases = Case.objects.filter(unit_id__in=ids)
    open_cases = cases.exclude(state=states.CLOSED)
    by_state = dict(cases.values_list("state").annotate(n=Count("pk")).order_by())
    warned = (
        Q(ack_warned_at__isnull=False, acknowledged_at__isnull=True)
        | Q(response_warned_at__isnull=False, first_response_at__isnull=True)
        | Q(resolve_warned_at__isnull=False, resolved_at__isnull=True)
    )
    totals = open_cases.aggregate(
        open=Count("pk"),
        breached=Count("pk", filter=BREACHED),
        at_risk=Count("pk", filter=(warned | due_soon_q(now)) & ~BREACHED),
        oldest=Min("opened_at"),
    )
    since = now - dt.timedelta(days=TRANSFER_WINDOW_DAYS)
    load = {
        row["owner"]: row
        for row in open_cases.values("owner")
        .annotate(open=Count("pk"), breached=Count("pk", filter=BREACHED), oldest=Min("opened_at"))
        .order_by()
    }
    handled = dict(
        cases.filter(opened_at__gte=since).values_list("owner").annotate(n=Count("pk")).order_by()
    )
    transfers_out = dict(
        Transfer.objects.filter(from_unit_id__in=ids, at__gte=since)
        .values_list("from_staff")
        .annotate(n=Count("pk"))
        .order_by()
    )
    people_ids = set(load) | set(transfers_out) | set(handled)
    people = Staff.objects.filter(pk__in=people_ids).select_related("unit").order_by("display_name")
    rows = []
    for person in people:
        out = transfers_out.get(person.pk, 0)
        total = handled.get(person.pk, 0) + out
        row = load.get(person.pk, {})
        rows.append(
            {
                "staff": person,
                "open": row.get("open", 0),
                "breached": row.get("breached", 0),
                "oldest": row.get("oldest"),
                "transfers": out,
                "handled": total,
                "rate": (out / total) if total else None,
            }
        )
    rows.sort(key=lambda r: (-r["open"], r["staff"].display_name))
    oldest = list(open_cases.select_related("customer", "owner").order_by("opened_at", "pk")[:10])
    context = {
        "unit_choices": [(u.pk, f"{'· ' * u.depth}{u.name}") for u in units],
        "unit": unit,
        "states": [(s, states.STATES[s], by_state.get(s, 0)) for s in states.STATES],
        "totals": totals,
        "people": rows,
        "oldest": oldest,
        "window_days": TRANSFER_WINDOW_DAYS,
        "pending_approvals": ApprovalRequest.objects.filter(
            decision=ApprovalRequest.Decision.PENDING, remedy__case__unit_id__in=ids
        ).count(),
    }
    return render(request, "cases/board.html", context)
