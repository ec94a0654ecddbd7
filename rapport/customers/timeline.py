"""The customer timeline: entries from every app, newest first, a page at a time.

Apps contribute entries through providers registered in their own `timeline.py` module, found
by autodiscovery (as Django finds `admin.py`), so survey responses, feedback and cases join the
timeline later without changing this module or the customer page. Pages are cut by keyset on
(occurred_at, type, id): the 100th page of a long history costs what the first one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import autodiscover_modules


@dataclass(frozen=True)
class Filters:
    """What the person asked to see. A provider that cannot honour a set filter returns nothing
    (a "kind" filter asks for touchpoints of that kind, so surveys have no entries then)."""

    type: str = ""
    kind: str = ""
    channel: str = ""
    unit_path: str = ""  # the chosen unit's materialised path: the unit and its subtree
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Cursor:
    """The last entry shown; the next page starts after it."""

    occurred_at: datetime
    type: str
    id: int

    @property
    def sort_key(self) -> tuple[datetime, str, int]:
        return (self.occurred_at, self.type, self.id)

    def __str__(self) -> str:
        return f"{self.occurred_at.isoformat()}~{self.type}~{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        """The cursor from a URL parameter; None (the first page) for anything malformed."""
        if not raw:
            return None
        parts = raw.split("~")
        if len(parts) != 3 or not parts[2].isdigit():
            return None
        try:
            at = parse_datetime(parts[0])
        except ValueError:
            return None
        if at is None or at.tzinfo is None:
            return None
        return cls(at, parts[1], int(parts[2]))


@dataclass(frozen=True)
class Entry:
    occurred_at: datetime
    type: str  # the provider's type
    id: int
    title: str
    template: str = ""  # renders the detail under the title, with `entry` and `object`
    object: Any = None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.occurred_at, self.type, self.id)

    @property
    def sort_key(self) -> tuple[datetime, str, int]:
        """Timeline order is this key, descending; a provider without a database query keeps
        the entries whose key is below the cursor's."""
        return (self.occurred_at, self.type, self.id)


EntriesFn = Callable[[Any, Filters, Cursor | None, int], list[Entry]]


@dataclass(frozen=True)
class Provider:
    """`entries(customer, filters, before, limit)` returns at most `limit` entries after the
    cursor in timeline order (newest first). `kinds()` lists the kinds it offers as a filter."""

    type: str
    label: Any
    entries: EntriesFn
    kinds: Callable[[], Mapping[str, Any]] | None = None
    order: int = 100


_providers: dict[str, Provider] = {}
_discovered = False


def register(provider: Provider) -> Provider:
    """Add (or replace, on reload) the provider for its type."""
    _providers[provider.type] = provider
    return provider


def providers() -> list[Provider]:
    global _discovered
    if not _discovered:
        autodiscover_modules("timeline")
        _discovered = True
    return sorted(_providers.values(), key=lambda p: (p.order, p.type))


def after_cursor(before: Cursor | None, type_: str, time_field: str = "occurred_at") -> Q:
    """The condition a provider of `type_` adds to its query to start after `before`.

    Order is (occurred_at, type, id), all descending; so at the cursor's very instant, entries
    of a type sorting before the cursor's come later, and of the same type those with a lower id.
    """
    if before is None:
        return Q()
    later = Q(**{f"{time_field}__lt": before.occurred_at})
    if type_ < before.type:
        later |= Q(**{time_field: before.occurred_at})
    elif type_ == before.type:
        later |= Q(**{time_field: before.occurred_at, "pk__lt": before.id})
    return later


def window(
    qs: QuerySet[Any],
    filters: Filters,
    before: Cursor | None,
    type_: str,
    time_field: str,
    limit: int,
) -> QuerySet[Any]:
    """A provider's rows for one page: within the filters' unit subtree and time range, after
    the cursor, newest first. Providers other than touchpoints share it."""
    if filters.unit_path:
        qs = qs.filter(unit__path__startswith=filters.unit_path)
    if filters.since:
        qs = qs.filter(**{f"{time_field}__gte": filters.since})
    if filters.until:
        qs = qs.filter(**{f"{time_field}__lt": filters.until})
    return qs.filter(after_cursor(before, type_, time_field)).order_by(f"-{time_field}", "-pk")[
        :limit
    ]


@dataclass
class Page:
    entries: list[Entry]
    next_cursor: Cursor | None
    is_first: bool
    types: list[Provider] = field(default_factory=list)


def page(customer: Any, filters: Filters, before: Cursor | None = None, size: int = 50) -> Page:
    """One page of the customer's timeline: every provider's next entries, merged."""
    chosen = [p for p in providers() if not filters.type or p.type == filters.type]
    entries: list[Entry] = []
    for provider in chosen:
        entries.extend(provider.entries(customer, filters, before, size + 1))
    entries.sort(key=lambda e: e.sort_key, reverse=True)
    more = len(entries) > size
    shown = entries[:size]
    return Page(
        entries=shown,
        next_cursor=shown[-1].cursor if more else None,
        is_first=before is None,
        types=chosen,
    )


def kind_choices() -> list[tuple[str, Any]]:
    """Every kind any provider offers, for the filter."""
    choices: dict[str, Any] = {}
    for provider in providers():
        if provider.kinds is not None:
            choices.update(provider.kinds())
    return sorted(choices.items(), key=lambda kv: str(kv[1]))
