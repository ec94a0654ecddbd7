"""Business-hours arithmetic for SLA clocks. Plain code: no ORM.

A `Calendar` is a unit's time zone, its weekly opening hours and its closed days (public holidays
of a country from the `holidays` package, plus its own). `add` moves a moment forward by an amount
of open time; `between` measures the open time between two moments. They are inverse:
`between(t, add(t, d)) == d` for every t and d ≥ 0, and both are monotone.

Opening hours are wall-clock times in the unit's zone, so a 09:00–18:00 day is nine hours in
Taipei all year and in New York on the days clocks change too (the change happens at night).
Arithmetic itself is done on UTC instants, so it never double-counts or skips an hour.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import holidays as holidays_lib

UTC = dt.UTC
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: dict[str, list[list[str]]] = {
    day: [["09:00", "18:00"]] if day not in ("sat", "sun") else [] for day in WEEKDAYS
}
HOLIDAY_COUNTRIES = ("TW", "CN", "HK", "KR", "US", "JP", "SG", "GB")  # offered first in forms
MAX_DAYS = 3 * 366  # a search that finds no open time in three years has a broken calendar

Interval = tuple[dt.time, dt.time | None]  # None as the end: midnight at the end of the day


class CalendarError(ValueError):
    """A calendar that cannot be used; the message names the field and the value."""


@lru_cache(maxsize=64)
def country_holidays(country: str, subdivision: str = "") -> holidays_lib.HolidayBase:
    """The public holidays of a country (years are filled in lazily as they are asked for).

    `holidays` is imported here, not at the top: it costs every process that starts Django
    (an import, the worker) a noticeable part of its start-up, and few of them need it."""
    import holidays as holidays_lib

    try:
        return holidays_lib.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as exc:
        raise CalendarError(f"holiday country {country!r}: not supported") from exc


def supported_countries() -> list[str]:
    import holidays as holidays_lib

    return sorted(holidays_lib.list_supported_countries())


def parse_hours(hours: Mapping[str, Sequence[Sequence[str]]]) -> tuple[tuple[Interval, ...], ...]:
    """{"mon": [["09:00", "12:00"], ["13:00", "18:00"]], ...} → intervals per weekday (Mon=0).

    Raises CalendarError naming the day and the interval that is wrong."""
    days: list[tuple[Interval, ...]] = []
    for day in WEEKDAYS:
        spans = []
        for i, span in enumerate(hours.get(day) or ()):
            where = f"hours.{day}[{i}]"
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise CalendarError(f"{where}: expected [start, end], got {span!r}")
            start, end = _clock(span[0], where), _clock(span[1], where, end=True)
            if end is not None and end <= start:
                raise CalendarError(f"{where}: the end {span[1]} is not after the start {span[0]}")
            spans.append((start, end))
        spans.sort(key=lambda s: s[0])
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
            if e1 is None or e1 > s2:
                raise CalendarError(f"hours.{day}: intervals overlap")
        days.append(tuple(spans))
    return tuple(days)


def _clock(value: object, where: str, end: bool = False) -> dt.time | None:
    text = str(value).strip()
    if end and text in {"24:00", "24:00:00"}:
        return None
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"{where}: {text!r} is not a time like 09:00") from exc


@dataclass(frozen=True, eq=False)
class Calendar:
    tz: dt.tzinfo
    hours: tuple[tuple[Interval, ...], ...]  # 7 weekdays, Monday first
    is_closed_day: Callable[[dt.date], bool] = field(default=lambda _d: False)

    @classmethod
    def build(
        cls,
        time_zone: str,
        hours: Mapping[str, Sequence[Sequence[str]]] | None = None,
        holiday_country: str = "",
        holiday_subdivision: str = "",
        closed_dates: Iterable[dt.date | str] = (),
    ) -> Calendar:
        """A calendar from stored settings; CalendarError when a setting is wrong."""
        try:
            tz = zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"time_zone: unknown time zone {time_zone!r}") from exc
        parsed = parse_hours(DEFAULT_HOURS if hours is None else hours)
        if not any(parsed):
            raise CalendarError("hours: the calendar is never open")
        extra = set()
        for value in closed_dates:
            try:
                extra.add(value if isinstance(value, dt.date) else dt.date.fromisoformat(value))
            except ValueError as exc:
                raise CalendarError(f"closed_dates: {value!r} is not a date") from exc
        public = country_holidays(holiday_country, holiday_subdivision) if holiday_country else None

        def closed(day: dt.date) -> bool:
            return day in extra or (public is not None and day in public)

        return cls(tz=tz, hours=parsed, is_closed_day=closed)

    def open_intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The day's opening hours as UTC instants (empty on closed days)."""
        if self.is_closed_day(day):
            return []
        spans = []
        for start, end in self.hours[day.weekday()]:
            a = dt.datetime.combine(day, start, self.tz).astimezone(UTC)
            if end is None:
                b = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.tz)
            else:
                b = dt.datetime.combine(day, end, self.tz)
            spans.append((a, b.astimezone(UTC)))
        return spans

    def _intervals_from(self, moment: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        day = moment.astimezone(self.tz).date() - dt.timedelta(days=1)  # a span may cross midnight
        for _ in range(MAX_DAYS):
            for a, b in self.open_intervals(day):
                if b > moment:
                    yield max(a, moment), b
            day += dt.timedelta(days=1)
        raise CalendarError("no opening hours in three years: check the calendar's closed days")

    def add(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """The instant after `amount` of open time from `start` (an aware datetime).

        Zero returns `start` itself; a positive amount that ends exactly at closing time
        returns the closing time (due "today at 18:00", not "tomorrow at 09:00")."""
        _aware(start)
        if amount < dt.timedelta(0):
            raise ValueError("add() takes a non-negative amount")
        start = start.astimezone(UTC)
        if not amount:
            return start
        left = amount
        for a, b in self._intervals_from(start):
            span = b - a
            if left <= span:
                return a + left
            left -= span
        raise AssertionError("unreachable")  # _intervals_from raises first

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Open time from `start` to `end` (negative when end is before start)."""
        _aware(start)
        _aware(end)
        if end < start:
            return -self.between(end, start)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        total = dt.timedelta(0)
        day = start.astimezone(self.tz).date() - dt.timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for a, b in self.open_intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return total

    def add_minutes(self, start: dt.datetime, minutes: float) -> dt.datetime:
        return self.add(start, dt.timedelta(minutes=minutes))

    def minutes_between(self, start: dt.datetime, end: dt.datetime) -> float:
        return self.between(start, end).total_seconds() / 60


def _aware(value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("business-time arithmetic needs aware datetimes")
