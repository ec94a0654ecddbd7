"""The customers behind a figure, a page at a time: most valuable first (everyone and a unit:
by value tier first), each page read from an index — from a cursor at the edge of the last
page, so that page 300 costs what page 1 does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum

from rapport.insights.models import CustomerInsight, MatrixSummary, SegmentSummary
from rapport.insights.queries import VALUE_TIER_NAMES, summary_unit
from rapport.insights.segmentation import SegmentFilter, attribute_rows, stored_count


def customer_rows(qs: QuerySet[CustomerInsight]) -> QuerySet:
    """The columns of a drill-down list, most valuable first (values, not model objects)."""
    return qs.order_by("-clv", "customer_id").values(
        "customer_id",
        "customer__display_name",
        "home_unit__name",
        "matrix_cell",
        "retention_state",
        "engagement_tier",
        "nps_score",
        "value_tier",
        "clv",
        "p_alive",
        "visits",
        "last_visit",
        "days_since_visit",
        "lock_in_flag",
        "referrals",
        "referred_customers",
    )


@dataclass(frozen=True)
class Cursor:
    """Where a list page starts: after (or, going back, before) the row with this lifetime
    value and customer id (and value tier, for lists ordered by tier first). A page then walks
    its index from there — as cheap on page 300 as on page 1 — instead of skipping rows."""

    clv: float
    customer: int
    tier: str = ""
    back: bool = False

    @classmethod
    def parse(cls, text: str | None, back: bool = False) -> Cursor | None:
        """The cursor of a page link's `after`/`before` value; None when absent or malformed."""
        parts = (text or "").split(":")
        if len(parts) != 3 or parts[0] not in ("", *VALUE_TIER_NAMES):
            return None
        try:
            return cls(float(parts[1]), int(parts[2]), parts[0], back)
        except ValueError:
            return None

    @classmethod
    def of(cls, row: Mapping[str, Any], by_tier: bool) -> str:
        """The link value of a cursor at a list row."""
        return f"{row['value_tier'] if by_tier else ''}:{row['clv']!r}:{row['customer_id']}"


def _walk(
    qs: QuerySet, size: int, cursor: Cursor | None, back: bool, clv: str, pk: str
) -> list[Any]:
    """Up to `size` rows of qs in list order (−clv, pk) after the cursor, or — back — the
    `size` rows before it (returned in list order). No cursor: from the start (or, back, from
    the end). The bound is `clv <= c` (a range on the index) plus the tie on the id."""
    if cursor is not None and back:
        qs = qs.filter(
            Q(**{f"{clv}__gt": cursor.clv}) | Q(**{clv: cursor.clv, f"{pk}__lt": cursor.customer}),
            **{f"{clv}__gte": cursor.clv},
        )
    elif cursor is not None:
        qs = qs.filter(
            Q(**{f"{clv}__lt": cursor.clv}) | Q(**{clv: cursor.clv, f"{pk}__gt": cursor.customer}),
            **{f"{clv}__lte": cursor.clv},
        )
    if back:
        return list(qs.order_by(clv, f"-{pk}")[:size])[::-1]
    return list(qs.order_by(f"-{clv}", pk)[:size])


def keyset_page(qs: QuerySet, cursor: Cursor, size: int) -> list[dict]:
    """A page of customer_rows(qs) next to a cursor (see Cursor)."""
    return _walk(qs, size, cursor, cursor.back, "clv", "customer_id")


def by_value_tier_page(
    flt: SegmentFilter, start: int, size: int, cursor: Cursor | None = None
) -> tuple[list[dict], int]:
    """One page of everyone (or of a unit) ordered by value tier, platinum first, then lifetime
    value, and the total: walks the (value_tier, −clv) index tier by tier instead of sorting
    the whole table by lifetime value. With a cursor the page starts at it (no skipping);
    without, at row `start`, from the cursor _tier_jump finds. Totals come from
    MatrixSummary."""
    base = CustomerInsight.objects.filter(flt.q())
    counts: dict[str, int] | None = None
    if flt.unit is None:
        counts = dict(
            MatrixSummary.objects.filter(dimension="value_tier")
            .values("key")
            .annotate(n=Sum("customers"))
            .order_by()
            .values_list("key", "n")
        )
        total = sum(counts.values())
    else:
        total = stored_count(flt) or 0
    if cursor is None and start:
        if counts is None:
            counts = _unit_tier_counts(flt)
        cursor = _tier_jump(flt, start, counts)
        if cursor is None:  # past the end
            return [], total
    if cursor is not None:
        return _tier_walk(base, cursor, size, counts), total
    rows: list[dict] = []
    for tier in VALUE_TIER_NAMES:
        if counts is not None and not counts.get(tier, 0):
            continue
        rows.extend(customer_rows(base.filter(value_tier=tier))[: size - len(rows)])
        if len(rows) >= size:
            break
    return rows, total


def _unit_tier_counts(flt: SegmentFilter) -> dict[str, int]:
    """A unit's customers per value tier, from its SegmentSummary rows (one grouped query)."""
    return dict(
        SegmentSummary.objects.filter(summary_unit(flt.unit))
        .values("value_tier")
        .annotate(n=Sum("customers"))
        .order_by()
        .values_list("value_tier", "n")
    )


def _tier_jump(flt: SegmentFilter, start: int, counts: dict[str, int]) -> Cursor | None:
    """The cursor at row `start` − 1 (≥ 0) in (value tier, −clv, customer) order — the edge a
    Next link would carry — or None past the end. The tiers' sizes say which tier that row is
    in; within it, one query counts off (clv, customer) entries of the (value tier, −clv,
    customer, home unit) index, with no row read or joined, instead of a join per skipped
    row."""
    offset = start
    for tier in VALUE_TIER_NAMES:
        if offset > counts.get(tier, 0):
            offset -= counts.get(tier, 0)
            continue
        inside = CustomerInsight.objects.filter(flt.q(unit_ids=True), value_tier=tier)
        edge = inside.order_by("-clv", "customer_id").values_list("clv", "customer_id")
        for clv, customer in edge[offset - 1 : offset]:
            return Cursor(clv, customer, tier)
    return None


def offset_page(qs: QuerySet, start: int, size: int) -> list[dict]:
    """Rows `start` … of customer_rows(qs) for a bare ?page=N: the edge row before the page is
    counted off from (clv, customer) alone, then the page is read from it like a Next link's
    (no customer or unit joined for each skipped row)."""
    if not start:
        return list(qs[:size])
    for clv, customer in qs.values_list("clv", "customer_id")[start - 1 : start]:
        return keyset_page(qs, Cursor(clv, customer), size)
    return []


def _tier_walk(
    base: QuerySet, cursor: Cursor, size: int, counts: dict[str, int] | None = None
) -> list[dict]:
    """Up to `size` rows next to the cursor in (value tier, −clv) order, crossing into the
    following (or, back, the preceding) tiers as needed — past those `counts` says are empty
    without a query."""
    tiers = list(VALUE_TIER_NAMES)
    at = tiers.index(cursor.tier) if cursor.tier in tiers else 0
    order = tiers[at::-1] if cursor.back else tiers[at:]
    rows: list[dict] = []
    for tier in order:
        if counts is not None and tier != cursor.tier and not counts.get(tier, 0):
            continue
        here = cursor if tier == cursor.tier else None
        got = _walk(
            customer_rows(base.filter(value_tier=tier)),
            size - len(rows),
            here,
            cursor.back,
            "clv",
            "customer_id",
        )
        rows = [*got, *rows] if cursor.back else [*rows, *got]
        if len(rows) >= size:
            break
    return rows


def attribute_page(
    flt: SegmentFilter, start: int, size: int, cursor: Cursor | None = None
) -> list[dict]:
    """A page of customers with an attribute value, most valuable first: the ids walk the
    (attribute, value, −clv) index (from the cursor, or skipping `start` index entries), then
    one query reads those customers' rows."""
    narrow = attribute_rows(flt).values_list("insight_id", flat=True)
    if cursor is not None:
        ids = _walk(narrow, size, cursor, cursor.back, "clv", "insight_id")
    else:
        ids = list(narrow.order_by("-clv", "insight_id")[start : start + size])
    rows = {r["customer_id"]: r for r in customer_rows(CustomerInsight.objects.filter(pk__in=ids))}
    return [rows[i] for i in ids if i in rows]
