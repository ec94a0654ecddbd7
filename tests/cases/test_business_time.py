"""Business-hours arithmetic: weekends, public holidays, lunch breaks, DST-free Taipei and the
US zones that change clocks; and the properties (inverse, monotone) with hypothesis."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.cases.business_time import Calendar, CalendarError

TPE = zoneinfo.ZoneInfo("Asia/Taipei")
NY = zoneinfo.ZoneInfo("America/New_York")
taipei = Calendar.build("Asia/Taipei", holiday_country="TW")
new_york = Calendar.build("America/New_York", holiday_country="US")
H = dt.timedelta(hours=1)


def at(tz, *args):
    return dt.datetime(*args, tzinfo=tz)


def test_within_a_day():
    assert taipei.add(at(TPE, 2025, 3, 3, 10), 2 * H) == at(TPE, 2025, 3, 3, 12)


def test_ends_at_closing_time_not_next_morning():
    assert taipei.add(at(TPE, 2025, 3, 3, 10), 8 * H) == at(TPE, 2025, 3, 3, 18)


def test_over_the_weekend():
    friday_5pm = at(TPE, 2025, 3, 7, 17)
    assert taipei.add(friday_5pm, 2 * H) == at(TPE, 2025, 3, 10, 10)
    assert taipei.between(friday_5pm, at(TPE, 2025, 3, 10, 10)) == 2 * H


def test_start_outside_hours_counts_from_opening():
    assert taipei.add(at(TPE, 2025, 3, 3, 7), H) == at(TPE, 2025, 3, 3, 10)
    assert taipei.add(at(TPE, 2025, 3, 8, 12), H) == at(TPE, 2025, 3, 10, 10)  # Saturday


def test_taiwan_public_holiday_is_skipped():
    # 2025-04-04 (Fri) Children's Day and 04-03 (Thu) Tomb Sweeping observed: closed.
    wednesday_5pm = at(TPE, 2025, 4, 2, 17)
    assert taipei.add(wednesday_5pm, 2 * H) == at(TPE, 2025, 4, 7, 10)
    plain = Calendar.build("Asia/Taipei")
    assert plain.add(wednesday_5pm, 2 * H) == at(TPE, 2025, 4, 3, 10)


@pytest.mark.parametrize(
    ("country", "day"),
    [
        ("TW", dt.date(2025, 10, 10)),
        ("CN", dt.date(2025, 10, 1)),
        ("HK", dt.date(2025, 7, 1)),
        ("KR", dt.date(2025, 8, 15)),
        ("US", dt.date(2025, 7, 4)),
    ],
)
def test_holiday_countries(country, day):
    cal = Calendar.build("UTC", holiday_country=country)
    assert cal.open_intervals(day) == []
    assert Calendar.build("UTC").open_intervals(day) != []


def test_us_dst_spring_forward_day_is_a_full_day():
    # 2025-03-10 is the Monday after the change; the change itself is Sunday 02:00.
    monday = at(NY, 2025, 3, 10, 9)
    assert new_york.add(monday, 9 * H) == at(NY, 2025, 3, 10, 18)
    friday_5pm = at(NY, 2025, 3, 7, 17)
    assert new_york.add(friday_5pm, 2 * H) == at(NY, 2025, 3, 10, 10)
    assert new_york.between(friday_5pm, at(NY, 2025, 3, 10, 10)) == 2 * H


def test_around_the_clock_calendar_counts_the_short_dst_night():
    always = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    cal = Calendar.build("America/New_York", hours=always)
    # Sunday 2025-03-09 has 23 hours in New York.
    assert cal.between(at(NY, 2025, 3, 9, 0), at(NY, 2025, 3, 10, 0)) == 23 * H
    assert cal.between(at(NY, 2025, 11, 2, 0), at(NY, 2025, 11, 3, 0)) == 25 * H


def test_lunch_break():
    split = {
        d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    }
    cal = Calendar.build("Asia/Taipei", hours=split)
    assert cal.add(at(TPE, 2025, 3, 3, 11), 2 * H) == at(TPE, 2025, 3, 3, 14)


def test_between_is_negative_backwards():
    a, b = at(TPE, 2025, 3, 3, 10), at(TPE, 2025, 3, 3, 12)
    assert taipei.between(b, a) == -2 * H


def test_bad_calendars_say_where():
    with pytest.raises(CalendarError, match="hours.mon"):
        Calendar.build("UTC", hours={"mon": [["18:00", "09:00"]]})
    with pytest.raises(CalendarError, match="time_zone"):
        Calendar.build("Mars/Olympus")
    with pytest.raises(CalendarError, match="never open"):
        Calendar.build("UTC", hours={})
    with pytest.raises(CalendarError, match="holiday country"):
        Calendar.build("UTC", holiday_country="XX")
    with pytest.raises(ValueError, match="aware"):
        taipei.add(dt.datetime(2025, 3, 3, 10), H)


instants = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 31)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)
amounts = st.integers(min_value=0, max_value=60 * 24 * 40).map(lambda m: dt.timedelta(minutes=m))
calendars = st.sampled_from([taipei, new_york, Calendar.build("Asia/Seoul", holiday_country="KR")])


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts)
def test_adding_then_measuring_returns_the_amount(cal, start, amount):
    assert cal.between(start, cal.add(start, amount)) == amount


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts, amounts)
def test_add_is_monotone_in_the_amount(cal, start, a, b):
    small, big = sorted([a, b])
    assert cal.add(start, small) <= cal.add(start, big)


@settings(max_examples=150, deadline=None)
@given(calendars, instants, instants, amounts)
def test_add_is_monotone_in_the_start(cal, s1, s2, amount):
    early, late = sorted([s1, s2])
    assert cal.add(early, amount) <= cal.add(late, amount)
    assert cal.between(early, late) >= dt.timedelta(0)
