"""The demo generator as pure functions: deterministic, valid by the ingestion rules, realistic."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import zoneinfo
from collections import Counter
from itertools import islice

from rapport.core.demo import generator, org
from rapport.core.demo.clock import SERVICE, SHOWROOM
from rapport.core.demo.people import SOURCES
from rapport.customers import records as customer_records
from rapport.touchpoints import records as touchpoint_records
from rapport.touchpoints.kinds import BUILTIN_KINDS

AS_OF = dt.date(2025, 6, 30)
TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")


def _all_records(seed: int, customers: int, size: int = 50) -> list[tuple[str, str, dict]]:
    return [
        (batch.target, batch.source, record)
        for chunk in generator.chunks(seed, customers, AS_OF, size=size)
        for batch in chunk.batches
        for record in batch.records
    ]


def _touchpoints(seed: int = 3, customers: int = 300) -> list[tuple[str, dict]]:
    return [(s, r) for t, s, r in _all_records(seed, customers) if t == "touchpoints"]


def test_the_same_seed_gives_the_same_records():
    assert _all_records(7, 120) == _all_records(7, 120)


def test_the_chunk_size_does_not_change_the_records():
    def key(rows):
        return sorted((t, s, r["external_id"], r.get("occurred_at", "")) for t, s, r in rows)

    assert key(_all_records(7, 120, size=7)) == key(_all_records(7, 120, size=120))


def test_another_seed_gives_other_records():
    first, second = _all_records(7, 60), _all_records(8, 60)
    assert [r.get("name") for t, _s, r in first if t == "customers"] != [
        r.get("name") for t, _s, r in second if t == "customers"
    ]
    assert {r.get("occurred_at") for _t, _s, r in first} != {
        r.get("occurred_at") for _t, _s, r in second
    }


def test_the_organisation_is_a_dealer_group_with_service_teams():
    units = org.units()
    kinds = Counter(u.kind for u in units)
    assert kinds["enterprise"] == 1 and kinds["region"] == 3 and kinds["branch"] == 8
    codes = {u.code for u in units}
    assert all(f"{b.code}-service" in codes for b in org.BRANCHES)
    assert all(u.time_zone == "Asia/Taipei" for u in units)
    staff = org.staff(1)
    assert len({s.code for s in staff}) == len(staff)
    roles = Counter(s.role for s in staff if s.username)
    assert roles == {"admin": 1, "cx_manager": 1, "analyst": 1, "unit_manager": 1, "agent": 3}
    titles = Counter(s.title for s in staff)
    assert titles["Service advisor"] >= 8 and titles["Sales consultant"] >= 8


def test_every_record_passes_the_ingestion_validation():
    units = {u.code: (n, TAIPEI) for n, u in enumerate(org.units(), start=1)}
    tp_lookups = touchpoint_records.Lookups(
        units=units,
        staff={s.code: n for n, s in enumerate(org.staff(5), start=1)},
        kinds=frozenset(BUILTIN_KINDS),
        default_tz=TAIPEI,
        latest=dt.datetime.combine(AS_OF, dt.time(), TAIPEI),  # nothing on or after as-of
    )
    customer_lookups = customer_records.Lookups(
        units={code: n for code, (n, _tz) in units.items()},
        attributes={
            "model": "string",
            "model_year": "integer",
            "vehicle_value": "decimal",
            "loyalty_tier": "string",
            "birth_year": "integer",
            "vehicles": "integer",
        },
        region="TW",
    )
    start = dt.datetime.combine(generator.window(AS_OF).start, dt.time(), TAIPEI)
    parser = touchpoint_records.Parser(tp_lookups)
    for line, (target, _source, record) in enumerate(_all_records(5, 300), start=1):
        if target == "customers":
            parsed = customer_records.parse(record, line, customer_lookups)
            assert isinstance(parsed, customer_records.CustomerRecord), (record, parsed)
        else:
            parsed = parser.parse(record, line)
            assert isinstance(parsed, touchpoint_records.Touchpoint), (record, parsed)
            assert parsed.occurred_at >= start


def test_every_kind_and_source_appears():
    rows = _touchpoints()
    assert {r["kind"] for _s, r in rows} == set(BUILTIN_KINDS) - {"other"}
    assert {s for s, _r in rows} == set(SOURCES)
    per_customer = len(rows) / 300
    assert 15 <= per_customer <= 40


def test_external_ids_are_unique_per_source():
    rows = _touchpoints()
    keys = [(s, r["external_id"]) for s, r in rows]
    assert len(keys) == len(set(keys))


def test_customers_have_unique_contacts_and_realistic_profiles():
    masters = [r for t, _s, r in _all_records(11, 2000, size=500) if t == "customers"]
    phones = [r["phone"] for r in masters]
    emails = [r["email"] for r in masters if "email" in r]
    assert len(set(phones)) == len(phones) and all(p.startswith("+8869") for p in phones)
    assert len(set(emails)) == len(emails) and 0.75 < len(emails) / len(masters) < 0.95
    languages = Counter(r["language"] for r in masters)
    assert languages["zh-hant"] > languages["en"] > 0 and languages["zh-hans"] > 0
    opted_out = [r for r in masters if r.get("consent.email.marketing") == "no"]
    assert opted_out and any(r.get("consent.sms.survey") == "no" for r in masters)
    assert {r["attributes"]["model_year"] for r in masters} >= set(range(2018, 2026))
    assert any("\u4e00" <= r["name"][0] <= "\u9fff" for r in masters)  # Chinese names
    assert any(r["name"].isascii() for r in masters)  # and English ones


def test_about_fifteen_percent_drift_away_and_leave():
    profiles = list(generator.profiles(11, 3000, AS_OF))
    leavers = [p for p in profiles if p.leaves]
    assert 0.12 <= len(leavers) / len(profiles) <= 0.18
    assert all(p.drift is not None and p.drift < p.leave for p in leavers)


def test_leavers_stop_coming_and_some_cancel():
    w = generator.window(AS_OF)
    profiles = {p.index: p for p in generator.profiles(2, 400, AS_OF)}
    rows = _touchpoints(seed=2, customers=400)
    visits = Counter()
    for source, r in rows:
        index = int(r["customer_external_id"][1:]) - 1_000_001 if source == "dms" else None
        if index is None or r["kind"] != "service_visit":
            continue
        day = (dt.date.fromisoformat(r["occurred_at"][:10]) - w.start).days
        p = profiles[index]
        assert p.leave is None or day < p.leave, "no service visit after leaving"
        visits[index] += 1
    stayers = [p for p in profiles.values() if not p.leaves and p.since < 0]
    assert sum(visits[p.index] for p in stayers) / len(stayers) >= 3 * 2.5  # 3–6 a year
    assert any(r["kind"] == "cancellation" for _s, r in rows)


def test_times_fall_in_opening_hours_in_taipei():
    w = generator.window(AS_OF)
    for source, r in _touchpoints():
        at = dt.datetime.fromisoformat(r["occurred_at"])
        assert at.utcoffset() == dt.timedelta(hours=8)
        minute = at.hour * 60 + at.minute
        if r["kind"] == "service_visit":
            assert at.weekday() in SERVICE.weekdays and at.date() not in w.holidays
            assert SERVICE.opens <= minute <= SERVICE.closes
        elif r["kind"] == "purchase" and source == "dms":
            assert SHOWROOM.opens <= minute <= SHOWROOM.closes


def test_chunks_stream_without_building_everything():
    first = next(iter(generator.chunks(1, 10_000_000, AS_OF, size=20)))
    assert first.customers == 20
    assert list(islice(generator.profiles(1, 10_000_000, AS_OF), 3))


def test_a_child_process_generates_the_same_chunks():
    here = list(generator.chunks(9, 40, AS_OF, size=15))
    there = list(generator.prefetched(9, 40, AS_OF, size=15))
    assert there == here and len(there) == 3


def test_stopping_early_stops_the_generating_child():
    stream = generator.prefetched(9, 1_000_000, AS_OF, size=10)
    assert next(stream).customers == 10
    stream.close()  # the caller gives up (an error, Ctrl-C): the child must not linger
    assert not [p for p in multiprocessing.active_children() if p.name == "demo-generator"]
