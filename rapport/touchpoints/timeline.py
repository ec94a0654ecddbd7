"""Touchpoints on the customer timeline (found by rapport.customers.timeline's autodiscovery)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from rapport.customers import timeline
from rapport.touchpoints.kinds import BUILTIN_KINDS, CHANNELS
from rapport.touchpoints.models import Touchpoint, TouchpointKind

TYPE = "touchpoint"


def kind_labels() -> dict[str, Any]:
    """Every kind's label: the built-in ones and those registered in the database."""
    labels: dict[str, Any] = dict(BUILTIN_KINDS)
    for code, label in TouchpointKind.objects.values_list("code", "label"):
        labels.setdefault(code, label)
    return labels


def touchpoint_entries(
    customer: Any, filters: timeline.Filters, before: timeline.Cursor | None, limit: int
) -> list[timeline.Entry]:
    qs = Touchpoint.objects.filter(customer=customer)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.unit_path:
        qs = qs.filter(unit__path__startswith=filters.unit_path)
    if filters.since:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(occurred_at__lt=filters.until)
    qs = (
        qs.filter(timeline.after_cursor(before, TYPE))
        .select_related("unit", "staff", "source")
        .order_by("-occurred_at", "-pk")[:limit]
    )
    rows = list(qs)
    if not rows:
        return []
    # Labels are translated once per page, not once per row (get_channel_display would hash
    # every lazy choice label for every row).
    kinds = {code: str(label) for code, label in kind_labels().items()}
    channels = {code: str(label) for code, label in CHANNELS.items()}
    entries = []
    for tp in rows:
        tp.channel_label = channels.get(tp.channel, tp.channel)
        entries.append(
            timeline.Entry(
                occurred_at=tp.occurred_at,
                type=TYPE,
                id=tp.pk,
                title=kinds.get(tp.kind, tp.kind),
                template="timeline/touchpoint.html",
                object=tp,
            )
        )
    return entries


timeline.register(
    timeline.Provider(
        type=TYPE,
        label=_("Touchpoints"),
        entries=touchpoint_entries,
        kinds=kind_labels,
        order=10,
    )
)
