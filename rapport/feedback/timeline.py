"""Feedback items on the customer timeline (found by the timeline's autodiscovery)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from rapport.customers import timeline
from rapport.feedback.models import CHANNELS, FeedbackItem

TYPE = "feedback"


def feedback_entries(
    customer: Any, filters: timeline.Filters, before: timeline.Cursor | None, limit: int
) -> list[timeline.Entry]:
    if filters.kind or filters.channel:  # those filters ask for touchpoints
        return []
    qs = FeedbackItem.objects.filter(customer=customer)
    if filters.unit_path:
        qs = qs.filter(unit__path__startswith=filters.unit_path)
    if filters.since:
        qs = qs.filter(received_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(received_at__lt=filters.until)
    rows = (
        qs.filter(timeline.after_cursor(before, TYPE, time_field="received_at"))
        .select_related("unit")
        .order_by("-received_at", "-pk")[:limit]
    )
    return [
        timeline.Entry(
            occurred_at=r.received_at,
            type=TYPE,
            id=r.pk,
            title=str(
                _("Feedback (%(channel)s)") % {"channel": CHANNELS.get(r.channel, r.channel)}
            ),
            template="feedback/timeline/item.html",
            object=r,
        )
        for r in rows
    ]


timeline.register(
    timeline.Provider(type=TYPE, label=_("Feedback"), entries=feedback_entries, order=30)
)
