"""Completed survey responses on the customer timeline (found by the timeline's autodiscovery)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from rapport.customers import timeline
from rapport.surveys.models import Response

TYPE = "survey_response"


def response_entries(
    customer: Any, filters: timeline.Filters, before: timeline.Cursor | None, limit: int
) -> list[timeline.Entry]:
    if filters.kind:  # a kind filter asks for touchpoints of that kind
        return []
    qs = Response.objects.filter(customer=customer, state=Response.State.COMPLETED)
    if filters.channel:
        return []
    if filters.unit_path:
        qs = qs.filter(unit__path__startswith=filters.unit_path)
    if filters.since:
        qs = qs.filter(completed_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(completed_at__lt=filters.until)
    rows = (
        qs.filter(timeline.after_cursor(before, TYPE, time_field="completed_at"))
        .select_related("survey", "unit", "staff")
        .order_by("-completed_at", "-pk")[:limit]
    )
    return [
        timeline.Entry(
            occurred_at=r.completed_at,
            type=TYPE,
            id=r.pk,
            title=str(_("Survey answered: %(name)s") % {"name": r.survey.name}),
            template="surveys/timeline/response.html",
            object=r,
        )
        for r in rows
    ]


timeline.register(
    timeline.Provider(type=TYPE, label=_("Survey responses"), entries=response_entries, order=20)
)
