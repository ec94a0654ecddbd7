"""The columnar loads of rapport.insights.frames on a real database (SQLite and PostgreSQL):
the one-scan touchpoint + money load equals the two separate loads it replaces, whatever the
chunking, and kinds come back as categories."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rapport.insights import frames, jobs, loads
from tests.insights.insight_data import AS_OF, Base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(org):
    data = Base(org)
    # Kinds the job does not load still count for money; one touchpoint after as_of does not.
    data.touch("A", "web_visit", "2025-06-02", "taipei", amount=300)
    data.touch("B", "service_visit", "2025-07-03", "kaohsiung", amount=900, margin=400)
    return data


def _sorted(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.sort(*keys).select(sorted(frame.columns))


@pytest.mark.parametrize("id_range", [frames.ID_RANGE, 3])
def test_touchpoints_and_money_in_one_scan_equal_the_separate_loads(base, monkeypatch, id_range):
    monkeypatch.setattr(frames, "ID_RANGE", id_range)  # 3: many chunks, read on two threads
    until = jobs._day_end(AS_OF)
    touchpoints, money = loads.load_touchpoints_and_money(jobs.LOADED_KINDS, 0.25, until)
    alone = loads.load_touchpoints(jobs.LOADED_KINDS)
    keys = ("customer", "ts", "kind", "amount")
    assert_frame_equal(
        _sorted(touchpoints.with_columns(pl.col("kind").cast(pl.String)), *keys),
        _sorted(alone.with_columns(pl.col("kind").cast(pl.String)), *keys),
    )
    assert touchpoints["kind"].dtype == pl.Categorical
    assert "web_visit" not in touchpoints["kind"].cast(pl.String).to_list()
    assert_frame_equal(
        _sorted(money, "customer"),
        _sorted(loads.load_money(0.25, until), "customer"),
        check_exact=False,
        rel_tol=1e-9,
    )
    a = money.filter(pl.col("customer") == base.id("A")).row(0, named=True)
    web = 300.0
    assert a["revenue"] == pytest.approx(3 * 5000 + web)  # visits at 5,000 + the web visit


def test_money_counts_only_what_happened_before_the_end(base):
    until = jobs._day_end(AS_OF)
    _tp, money = loads.load_touchpoints_and_money(jobs.LOADED_KINDS, 0.25, until)
    later = loads.money_of(
        loads.load_touchpoints(jobs.LOADED_KINDS), 0.25, until + dt.timedelta(days=10)
    )
    b_now = money.filter(pl.col("customer") == base.id("B"))["profit"].item()
    b_later = later.filter(pl.col("customer") == base.id("B"))["profit"].item()
    assert b_later == pytest.approx(b_now + 400)  # the visit of 07-03 with its margin


def test_an_empty_table_loads_as_empty_typed_frames(org):
    touchpoints, money = loads.load_touchpoints_and_money(
        jobs.LOADED_KINDS, 0.25, jobs._day_end(AS_OF)
    )
    assert touchpoints.height == 0 and money.height == 0
    assert touchpoints.schema["kind"] == pl.Categorical


def test_touchpoints_and_money_of_some_customers_equal_the_separate_loads(base, monkeypatch):
    monkeypatch.setattr(frames, "ID_CHUNK", 1)  # one IN list per customer
    until = jobs._day_end(AS_OF)
    ids = [base.id("A"), base.id("C"), base.id("E")]
    touchpoints, money = loads.load_touchpoints_and_money_of(ids, jobs.LOADED_KINDS, 0.25, until)
    alone = loads.load_touchpoints_of(ids, jobs.LOADED_KINDS)
    keys = ("customer", "ts", "kind", "amount")
    assert_frame_equal(
        _sorted(touchpoints.with_columns(pl.col("kind").cast(pl.String)), *keys),
        _sorted(alone.with_columns(pl.col("kind").cast(pl.String)), *keys),
    )
    assert_frame_equal(
        _sorted(money, "customer"),
        _sorted(loads.load_money_of(ids, 0.25, until), "customer"),
        check_exact=False,
        rel_tol=1e-9,
    )
    assert set(money["customer"].to_list()) == {base.id("A"), base.id("C")}  # E: none
