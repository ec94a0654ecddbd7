"""Cases on the customer timeline (found by the timeline's autodiscovery, like surveys')."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from rapport.cases.models import Case
from rapport.customers import timeline

TYPE = "case"


def case_entries(
    customer: Any, filters: timeline.Filters, before: timeline.Cursor | None, limit: int
) -> list[timeline.Entry]:
    """One entry per case, at its opening; the entry shows where the case stands now."""
    if filters.kind or filters.channel:  # those filters ask for touchpoints
        return []
    rows = timeline.window(
        Case.objects.filter(customer=customer).select_related("owner"),
        filters,
        before,
        TYPE,
        "opened_at",
        limit,
    )
    return [
        timeline.Entry(
            occurred_at=c.opened_at,
            type=TYPE,
            id=c.pk,
            title=str(_("Case %(ref)s opened: %(subject)s") % {"ref": c.ref, "subject": c.subject}),
            template="cases/timeline/case.html",
            object=c,
        )
        for c in rows
    ]


timeline.register(timeline.Provider(type=TYPE, label=_("Cases"), entries=case_entries, order=30))
