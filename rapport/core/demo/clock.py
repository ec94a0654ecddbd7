"""Time for the demo: a window of days ending before the as-of date, and when things happen on a
day — inside a branch's opening hours, on its working days, skipping Taiwan's public holidays.

Days are numbered from the window's first day, so one customer's story is a few integers and the
same seed gives the same story shifted to whatever day the demo is loaded.
"""

from __future__ import annotations

import random
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import holidays


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours: open weekdays (0 = Monday), first and last minute of the day, and the
    minute most visits cluster around."""

    weekdays: frozenset[int]
    opens: int
    closes: int
    peak: int
    closed_on_holidays: bool = True


SERVICE = Hours(frozenset(range(6)), 8 * 60 + 30, 17 * 60 + 30, 9 * 60 + 30)
SHOWROOM = Hours(frozenset(range(7)), 9 * 60, 21 * 60, 15 * 60)
CONTACT_CENTRE = Hours(frozenset(range(6)), 9 * 60, 18 * 60, 10 * 60 + 30)
ONLINE = Hours(frozenset(range(7)), 0, 24 * 60 - 1, 21 * 60, closed_on_holidays=False)
NIGHT_BATCH = Hours(frozenset(range(7)), 2 * 60, 4 * 60, 2 * 60 + 30, closed_on_holidays=False)
MORNING_BATCH = Hours(frozenset(range(5)), 10 * 60, 10 * 60 + 45, 10 * 60 + 5)


class Window:
    """The days the demo's history covers: `years` years up to the day before `as_of`."""

    def __init__(self, as_of: date, years: int = 3, time_zone: str = "Asia/Taipei") -> None:
        self.as_of = as_of
        self.start = as_of - timedelta(days=round(365.25 * years))
        self.days = (as_of - self.start).days
        self.dates = [self.start + timedelta(days=d) for d in range(self.days)]
        years_spanned = range(self.start.year, as_of.year + 1)
        self.holidays = frozenset(holidays.country_holidays("TW", years=years_spanned))
        self._time_zone = time_zone
        self._offsets: list[str] = [_utc_offset(d, time_zone) for d in self.dates]
        self._iso_dates = [d.isoformat() for d in self.dates]
        self._next_open: dict[Hours, list[int | None]] = {}

    def year_of(self, day: int) -> int:
        return (self.start + timedelta(days=day)).year

    def is_open(self, day: int, hours: Hours) -> bool:
        d = self.dates[day]
        if d.weekday() not in hours.weekdays:
            return False
        return not (hours.closed_on_holidays and d in self.holidays)

    def next_open(self, day: int, hours: Hours) -> int | None:
        """The first open day on or after `day`, None when the window ends first."""
        table = self._next_open.get(hours)
        if table is None:
            table = self._next_open[hours] = self._next_open_table(hours)
        return table[max(day, 0)] if day < self.days else None

    def _next_open_table(self, hours: Hours) -> list[int | None]:
        table: list[int | None] = [None] * (self.days + 1)
        for day in range(self.days - 1, -1, -1):
            table[day] = day if self.is_open(day, hours) else table[day + 1]
        return table

    def stamp(self, rng: random.Random, day: int, hours: Hours) -> str:
        """An ISO 8601 local time with offset on `day`, within `hours`, clustered at the peak."""
        minute = int(rng.triangular(hours.opens, hours.closes, hours.peak))
        return self.stamp_at(day, minute, int(rng.random() * 60))

    def stamp_at(self, day: int, minute: int, second: int = 0) -> str:
        return (
            f"{self._iso_dates[day]}T{minute // 60:02d}:{minute % 60:02d}:{second:02d}"
            + (self._offsets[day])
        )


def _utc_offset(d: date, time_zone: str) -> str:
    """ "+08:00" for Taipei: the zone's offset at noon that day (DST changes happen at night)."""
    offset = datetime(d.year, d.month, d.day, 12, tzinfo=zoneinfo.ZoneInfo(time_zone)).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
