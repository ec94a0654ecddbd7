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
    rows = timeline.window(
        FeedbackItem.objects.filter(customer=customer).select_related("unit"),
        filters,
        before,
        TYPE,
        "received_at",
        limit,
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
