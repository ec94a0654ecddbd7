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
    if filters.kind or filters.channel:  # those filters ask for touchpoints
        return []
    rows = timeline.window(
        Response.objects.filter(customer=customer, state=Response.State.COMPLETED).select_related(
            "survey", "unit", "staff"
        ),
        filters,
        before,
        TYPE,
        "completed_at",
        limit,
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
