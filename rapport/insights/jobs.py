"""The one home of the insights computation: `recompute_all()` and `recompute_incremental()`.

Both load columnar frames (rapport.insights.frames: one query per table), compute with the plain
modules (facts, summaries, measures, retention, advocates, drivers, economics) and write the
summary tables and the per-customer facts in ONE transaction at the end, so pages never read a
half-written state; the computing before it holds no lock.

- Full: every customer; refits the lifetime-value models and the RFM / value-tier cut points
  (`refit=False` reuses the last run's, which the tests use to check that incremental = full);
  rebuilds every summary, the drivers and the figures (referrals, economics).
- Incremental: the customers with touchpoints or responses new since the last run (by id
  watermark, or recorded since a given time), plus those whose referral totals they change
  (referrals resolved once and kept in ReferralLink; only new and stale links are resolved);
  their facts on the last full run's calibration. Score cells and matrix rows are sums: their
  old contributions (old facts, old segments) are taken out of the stored rows and the new ones
  put in, so nothing else is read; quarters and years are re-added from their months, the
  current engagement mix is read off the matrix. Drivers, economics and the referral share
  wait for the next full run, and so do customers whose facts change only with the passing of
  time (the scheduled full run is nightly).

Runs write one at a time: the write block first takes the insights lock (an advisory lock on
PostgreSQL; SQLite's write lock, taken at BEGIN, does it there), and an incremental run whose
base was replaced meanwhile by another run's writes nothing — the next one catches up.

`value_tier_for(customer_id)` is what [cases] reads for priority.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from rapport.insights import drivers, economics, facts, frames, loads, summaries
from rapport.insights.advocates import first_referrals, referral_share
from rapport.insights.models import (
    CustomerAttributeValue,
    CustomerInsight,
    DriverResult,
    InsightFigure,
    MatrixSummary,
    RecomputeRun,
    ReferralLink,
    ScoreSummary,
    SegmentSummary,
)
from rapport.insights.retention import LOCK_IN_KINDS, VISIT_KINDS
from rapport.surveys.models import Response
from rapport.surveys.results import enterprise_tz
from rapport.touchpoints.models import Touchpoint

log = logging.getLogger(__name__)

LOADED_KINDS = (*VISIT_KINDS, *LOCK_IN_KINDS, "referral")
LOAD_THREADS = 2
MAX_DRIVER_RESPONSES = 20_000  # per target, sampled with a fixed seed before splitting contexts


def default_margin_rate() -> float:
    """Profit share assumed for touchpoints with an amount but no margin."""
    return float(getattr(settings, "RAPPORT_DEFAULT_MARGIN_RATE", 0.25))


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self._last = now


# --- frames → inputs ---------------------------------------------------------------------------


def _inputs(
    customers: pl.DataFrame,
    touchpoints: pl.DataFrame,
    money: pl.DataFrame,
    responses: pl.DataFrame,
    referrals: pl.DataFrame,
    as_of: dt.datetime,
) -> facts.Inputs:
    tz = enterprise_tz()
    return facts.Inputs(
        customers=customers,
        money=money,
        touchpoints=touchpoints.select(
            "customer",
            loads.local_day(pl.col("ts"), tz).alias("day"),
            "kind",
            "amount",
            "margin",
        ),
        responses=responses,
        referrals=referrals.select(
            "customer", loads.local_day(pl.col("ts"), tz).alias("day"), "referred"
        ).filter(pl.col("day") <= _as_of_day(as_of)),
        as_of_day=_as_of_day(as_of),
        default_margin_rate=default_margin_rate(),
    )


def _as_of_day(as_of: dt.datetime) -> int:
    return facts.day_number(as_of.astimezone(enterprise_tz()).date())


def _day_end(as_of: dt.datetime) -> dt.datetime:
    """The start of the local day after as_of: touchpoints before it count."""
    tz = enterprise_tz()
    day = as_of.astimezone(tz).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)


def _with_segments(responses: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """Responses with their customer's value tier and visits band (segments: customer, ...)."""
    return responses.join(segments, on="customer", how="left")


def _segments(insight: pl.DataFrame) -> pl.DataFrame:
    return insight.select(
        "customer",
        "value_tier",
        facts.visits_band(pl.col("visits_per_year")).alias("visits_band"),
    )


# --- full --------------------------------------------------------------------------------------


def recompute_all(
    *, as_of: dt.datetime | None = None, refit: bool = True, stop: threading.Event | None = None
) -> RecomputeRun:
    """Recompute every customer's facts and every summary table; returns the finished run.

    Transaction: computing holds no lock; the writes happen in one atomic block at the end
    (on SQLite that block holds the write lock, a few seconds per 100,000 customers).
    """
    started = timezone.now()
    as_of = as_of or started
    clock = _Clock()
    calibration = None
    if not refit:
        previous = _last_run()
        if previous is None:
            raise ValueError("refit=False needs a previous full run to take the calibration from")
        calibration = facts.Calibration.from_dict(previous.calibration)
    touchpoint_mark = loads.max_id(Touchpoint)
    response_mark = loads.max_id(Response)
    loaded = _load_in_parallel(
        {
            "touchpoints": lambda: loads.load_touchpoints_and_money(
                LOADED_KINDS, default_margin_rate(), _day_end(as_of)
            ),
            "customers": loads.load_customers,
            "attributes": loads.load_attribute_values,
            "responses": loads.load_responses,
            "referrals": loads.load_referrals,
            "units": loads.load_units,
        }
    )
    clock.lap("load")
    customers, (touchpoints, money) = loaded.pop("customers"), loaded.pop("touchpoints")
    responses = _counted(loaded.pop("responses"), response_mark, _cutoff(started))
    referrals, units = loaded.pop("referrals"), loaded.pop("units")
    attributes = loaded.pop("attributes")
    inputs = _inputs(customers, touchpoints, money, responses, referrals, as_of)
    del touchpoints  # the last reference: _inputs keeps only local days
    customer_facts, calibration = facts.customer_facts(inputs, calibration)
    insight = facts.insight_rows(customer_facts, as_of)
    clock.lap("customer_facts")
    if stop is not None and stop.is_set():
        raise InterruptedError("stopped")

    tz = enterprise_tz()
    segmented = _with_segments(responses, _segments(customer_facts))
    months = summaries.month_cells(segmented, units, tz)
    cells = pl.concat(
        [months, summaries.roll_up(months, "quarter"), summaries.roll_up(months, "year")],
        how="vertical_relaxed",
    )
    groups = summaries.group_customers(customer_facts.rename({"state": "retention_state"}))
    matrix = summaries.matrix_rows(groups, units)
    current = summaries.current_mix_cells(matrix, as_of.astimezone(tz).date())
    scores = summaries.score_rows(pl.concat([cells.select(current.columns), current]))
    segment_rows = summaries.segment_rows(insight, attributes)
    attribute_rows = summaries.attribute_value_rows(attributes, insight)
    del attributes
    clock.lap("summaries")
    driver_rows = _driver_rows(responses, tz)
    clock.lap("drivers")
    figures = _figures(inputs, customer_facts, as_of)
    clock.lap("figures")

    with transaction.atomic():
        _lock_runs()
        frames.replace_all(CustomerInsight, insight)
        frames.replace_all(ScoreSummary, scores)
        frames.replace_all(MatrixSummary, matrix)
        frames.replace_all(SegmentSummary, segment_rows)
        frames.replace_all(CustomerAttributeValue, attribute_rows)
        frames.replace_all(ReferralLink, _link_rows(referrals))
        frames.replace_all(DriverResult, driver_rows)
        for key, value in figures.items():
            InsightFigure.objects.update_or_create(
                key=key, defaults={"value": value, "as_of": as_of}
            )
        clock.lap("write")
        run = RecomputeRun.objects.create(
            kind=RecomputeRun.Kind.FULL,
            started_at=started,
            finished_at=timezone.now(),
            as_of=as_of,
            touchpoint_watermark=touchpoint_mark,
            response_watermark=response_mark,
            customers=insight.height,
            calibration=calibration.as_dict(),
            timings=clock.timings,
        )
    _refresh_planner_statistics()
    log.info("insights: full recompute of %d customers in %s", insight.height, clock.timings)
    return run


def _refresh_planner_statistics() -> None:
    """PostgreSQL, after a full run rewrote the per-customer tables: VACUUM (ANALYZE) them, so
    the planner knows the new rows and the visibility map lets the segment pages read their
    covering indexes alone (index-only scans); autovacuum would come to it only later. It
    cannot run inside a transaction: skipped when the caller holds one."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for model in (CustomerInsight, CustomerAttributeValue, SegmentSummary):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def _load_in_parallel(loads: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run the loads on LOAD_THREADS threads, each with its own database connection: the
    databases do their part (scans, aggregates, text) without holding Python's lock, so two
    loads overlap. The first load given should be the longest."""

    def run(load: Callable[[], Any]) -> Any:
        try:
            return load()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        futures = {name: pool.submit(run, load) for name, load in loads.items()}
        return {name: future.result() for name, future in futures.items()}


# --- incremental -------------------------------------------------------------------------------


RUN_LOCK = 0x1A5_16_475  # the advisory-lock key of insights runs on PostgreSQL


def _lock_runs() -> None:
    """Serialise the write blocks of runs (inside the transaction; released at its end)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK])


def _last_run() -> RecomputeRun | None:
    """The latest run with a calibration (full runs carry it; incremental runs copy it)."""
    return RecomputeRun.objects.filter(finished_at__isnull=False).order_by("-pk").first()


def recompute_incremental(
    since: dt.datetime | None = None, *, as_of: dt.datetime | None = None
) -> RecomputeRun:
    """Bring the facts and summaries up to date with what was recorded since the last run.

    `since` None: touchpoints and responses above the last run's id watermarks (fast: primary-key
    ranges), plus responses completed since that run started. `since` a time: touchpoints
    recorded (created_at) and responses completed since then (a scan: for repairs). Without a
    previous run this is a full recompute. Transaction: as recompute_all.
    """
    previous = _last_run()
    if previous is None:
        return recompute_all(as_of=as_of)
    started = timezone.now()
    as_of = as_of or started
    clock = _Clock()
    calibration = facts.Calibration.from_dict(previous.calibration)
    response_mark = loads.max_id(Response)
    previous_cut, cut = _cutoff(previous.started_at), _cutoff(started)
    changed, touchpoint_mark = loads.customers_with_touchpoints_after(previous.touchpoint_watermark)
    new_responses = loads.responses_after(
        previous.response_watermark, dt.datetime.fromtimestamp(previous_cut, dt.UTC)
    ).filter(
        ((pl.col("id") > previous.response_watermark) | (pl.col("ts") >= previous_cut))
        & (pl.col("id") <= response_mark)
        & (pl.col("ts") < cut)
    )
    parts = [changed.cast(pl.Int64), new_responses["customer"].drop_nulls().cast(pl.Int64)]
    if since is not None:  # also whoever has anything recorded or completed since then
        parts.append(loads.customers_with_touchpoints_created_since(since).cast(pl.Int64))
        parts.append(loads.load_responses(since=since)["customer"].drop_nulls().cast(pl.Int64))
    stored_links = loads.load_referral_links()
    stale_links, resolved_again = loads.load_referrals_to_resolve_again()
    new_links = loads.load_referrals_between(previous.touchpoint_watermark, touchpoint_mark)
    link_changes = _changed_links(
        stored_links.filter(pl.col("touchpoint").is_in(stale_links.implode())), resolved_again
    )
    parts.append(link_changes)
    changed = pl.concat(parts).unique()
    fresh_links = pl.concat([resolved_again, new_links])
    referrals = pl.concat(
        [
            stored_links.filter(
                ~pl.col("touchpoint").is_in(
                    pl.concat([stale_links, new_links["touchpoint"]]).implode()
                )
            ),
            fresh_links,
        ]
    )
    affected = _with_referral_partners(changed, referrals)
    clock.lap("find_changed")

    ids = affected.to_list()
    customers = loads.load_customer_ids(ids)
    touchpoints, money = loads.load_touchpoints_and_money_of(
        ids, LOADED_KINDS, default_margin_rate(), _day_end(as_of)
    )
    of_affected = loads.load_responses_of(ids)
    before = _counted(of_affected, previous.response_watermark, previous_cut)
    responses = _counted(of_affected, response_mark, cut)
    old = loads.load_insight_segments(ids)
    # One read of the changed customers' stored facts serves both the matrix and the segments.
    stored_facts = loads.load_insight_segment_rows(ids)
    old_groups = stored_facts.rename({"home_unit_id": "home_unit"})
    # Attribute slices: the values each customer was counted under, out; their values now, in —
    # for the values the last full run gave rows (summarized), so both runs write the same rows.
    summarized = loads.load_summarized_values()
    old_segment_rows = summaries.segment_rows(
        stored_facts, loads.load_stored_attribute_values(ids), summarized
    )
    attributes = loads.load_attribute_values(ids)
    partner_values = loads.load_insight_values(
        referrals["referred"]
        .drop_nulls()
        .filter(referrals["customer"].is_in(affected.implode()))
        .to_list()
    )
    clock.lap("load")
    inputs = _inputs(customers, touchpoints, money, responses, referrals, as_of)
    customer_facts, _cal = facts.customer_facts(inputs, calibration, partner_values)
    insight = facts.insight_rows(customer_facts, as_of)
    clock.lap("customer_facts")

    tz = enterprise_tz()
    # Score cells are sums, so the changed customers' responses are taken out of the stored
    # month cells with their old segments and put back with their new ones (plus the new
    # responses): exact, and no other response is read.
    units = loads.load_units()
    anonymous = new_responses.filter(pl.col("customer").is_null())
    removed = summaries.month_cells(_with_segments(before, old), units, tz)
    added = summaries.month_cells(
        _with_segments(pl.concat([responses, anonymous]), _segments(customer_facts)), units, tz
    )
    delta = summaries.difference(added, removed)
    month_list = sorted(set(delta["period_start"].to_list()))
    matrix_change = summaries.matrix_change(
        summaries.group_customers(old_groups),
        summaries.group_customers(customer_facts.rename({"state": "retention_state"})),
        units,
    )
    clock.lap("summaries")

    with transaction.atomic():
        _lock_runs()
        latest = _last_run()
        if latest is not None and latest.pk != previous.pk:
            log.info(
                "insights: run %s finished meanwhile; this incremental run stands down", latest
            )
            return latest
        frames.delete_where_in(CustomerInsight, "customer", ids)
        frames.write_frame(CustomerInsight, insight)
        if month_list:
            stored = loads.load_month_cells(month_list[0], _period_end(month_list[-1], "month"))
            stored = stored.filter(pl.col("period_start").is_in(month_list))
            _replace_month_cells(month_list, summaries.add_cells(stored, delta), tz)
        # The matrix, like the score cells, changes by what the changed customers take out
        # and bring in; the current engagement mix is read off the matrix.
        matrix = summaries.add_matrix_rows(loads.load_matrix(), matrix_change)
        current = summaries.current_mix_cells(matrix, as_of.astimezone(tz).date())
        ScoreSummary.objects.filter(period_kind="current").delete()
        frames.write_frame(ScoreSummary, summaries.score_rows(current))
        frames.replace_all(MatrixSummary, matrix)
        # SegmentSummary likewise (the changed customers' old rows out, their new rows in),
        # rewriting only the rows whose keys they touch.
        stale, fresh = summaries.segment_update(
            loads.load_segment_summary(),
            old_segment_rows,
            summaries.segment_rows(insight, attributes, summarized),
        )
        frames.delete_where_in(SegmentSummary, "id", stale)
        frames.write_frame(SegmentSummary, fresh)
        frames.delete_where_in(CustomerAttributeValue, "insight", ids)
        frames.write_frame(
            CustomerAttributeValue, summaries.attribute_value_rows(attributes, insight)
        )
        frames.delete_where_in(
            ReferralLink,
            "touchpoint_id",
            pl.concat([stale_links, fresh_links["touchpoint"]]).to_list(),
        )
        frames.write_frame(ReferralLink, _link_rows(fresh_links))
        clock.lap("write")
        run = RecomputeRun.objects.create(
            kind=RecomputeRun.Kind.INCREMENTAL,
            started_at=started,
            finished_at=timezone.now(),
            as_of=as_of,
            touchpoint_watermark=max(touchpoint_mark, previous.touchpoint_watermark),
            response_watermark=max(response_mark, previous.response_watermark),
            customers=insight.height,
            calibration=previous.calibration,
            timings=clock.timings,
        )
    log.info("insights: incremental recompute of %d customers in %s", insight.height, clock.timings)
    return run


def _cutoff(started: dt.datetime) -> int:
    """A run counts the responses completed before the whole second it started in (and up to
    its id watermark); the next run counts the rest. Taken before anything is read, so a
    response is counted by exactly one run, whenever it completes."""
    return math.floor(started.timestamp())


def _counted(responses: pl.DataFrame, mark: int, cutoff: int) -> pl.DataFrame:
    return responses.filter((pl.col("id") <= mark) & (pl.col("ts") < cutoff))


def _changed_links(before: pl.DataFrame, after: pl.DataFrame) -> pl.Series:
    """Customers on either side of a link that resolves differently now (referrer or friend
    changed, or the touchpoint is gone): their referral facts change."""
    both = before.join(after, on="touchpoint", how="full", suffix="_now")
    differs = both.filter(
        pl.col("customer").ne_missing(pl.col("customer_now"))
        | pl.col("referred").ne_missing(pl.col("referred_now"))
    )
    return (
        pl.concat([differs[c] for c in ("customer", "customer_now", "referred", "referred_now")])
        .drop_nulls()
        .cast(pl.Int64)
    )


def _link_rows(referrals: pl.DataFrame) -> pl.DataFrame:
    """Referral frame → ReferralLink rows."""
    return referrals.select(
        pl.col("touchpoint").alias("touchpoint_id"),
        pl.col("customer").alias("referrer"),
        "ts",
        "referred",
    )


def _with_referral_partners(changed: pl.Series, referrals: pl.DataFrame) -> pl.Series:
    """Changed customers plus those whose referral facts they feed: the referrers of changed
    friends (their brought value) and the friends of changed referrers (their referred_by)."""
    ids = changed.implode()
    partners = pl.concat(
        [
            referrals.filter(pl.col("referred").is_in(ids))["customer"],
            referrals.filter(pl.col("customer").is_in(ids))["referred"].drop_nulls(),
        ]
    )
    return pl.concat([changed.cast(pl.Int64), partners.cast(pl.Int64)]).unique().sort()


def _replace_month_cells(month_list: list[dt.date], months: pl.DataFrame, tz) -> None:
    """Swap in the rebuilt month cells, then rebuild their quarters and years from the months
    (one read of the stored months of those years, one delete and one write per kind)."""
    if not month_list:
        return
    ScoreSummary.objects.filter(period_kind="month", period_start__in=month_list).delete()
    frames.write_frame(ScoreSummary, summaries.score_rows(months))
    first_year = dt.date(month_list[0].year, 1, 1)
    stored = loads.load_month_cells(first_year, dt.date(month_list[-1].year + 1, 1, 1))
    for kind in ("quarter", "year"):
        every = summaries.PERIOD_KINDS[kind]
        starts = (
            pl.Series("m", month_list, dtype=pl.Date)
            .cast(pl.Datetime)
            .dt.truncate(every)
            .dt.date()
            .unique()
        )
        wanted = stored.filter(
            pl.col("period_start")
            .cast(pl.Datetime)
            .dt.truncate(every)
            .dt.date()
            .is_in(starts.implode())
        )
        ScoreSummary.objects.filter(period_kind=kind, period_start__in=starts.to_list()).delete()
        frames.write_frame(ScoreSummary, summaries.score_rows(summaries.roll_up(wanted, kind)))


def _period_end(start: dt.date, kind: str) -> dt.date:
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    total = start.month - 1 + months
    return dt.date(start.year + total // 12, total % 12 + 1, 1)


# --- drivers and figures (full runs) -----------------------------------------------------------

DRIVER_TARGETS = {
    # target → (column, survey items that are part of the target itself and so not drivers)
    "recommend": ("nps_score", ("nps", "eng.recommend")),
    "engagement": ("engagement", ("nps",)),
}
CONTEXTS = ("visit_type", "day_type", "daypart")
TOUCHPOINT_DRIVERS = ("amount_log", "comeback")
ITEM = "q:"  # prefix of survey-item columns, so an item key never collides with another column
DRIVER_SCHEMA = {
    "survey_id": pl.Int64,
    "target": pl.String,
    "context_kind": pl.String,
    "context_value": pl.String,
    "driver": pl.String,
    "status": pl.String,
    "n": pl.Int64,
    "r2": pl.Float64,
    "weight": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "beta": pl.Float64,
    "p_value": pl.Float64,
    "significant": pl.Boolean,
}


def _driver_rows(responses: pl.DataFrame, tz) -> pl.DataFrame:
    """DriverResult rows: per survey with enough answers to a target, both targets, all contexts.

    The drivers of a target are the other items of the same survey, so that every response in
    an analysis was asked the same questions, and the touchpoint's attributes.
    """
    answers = loads.load_answers().with_columns((ITEM + pl.col("item")).alias("item"))
    touch = loads.load_response_touchpoints()
    wide = (
        answers.pivot(on="item", index="response", values="value", aggregate_function="first")
        if answers.height
        else pl.DataFrame(schema={"response": pl.Int64})
    )
    items = [c for c in wide.columns if c != "response"]
    data = (
        responses.select(
            pl.col("id").alias("response"),
            "survey",
            "ts",
            "touchpoint",
            "nps_score",
            ((3 * pl.col("loyalty") + 8 * pl.col("attachment")) / 11).alias("engagement"),
        )
        .join(wide, on="response", how="left")
        .join(touch, on="touchpoint", how="left")
    )
    when = loads.local_datetime(pl.coalesce("tp_ts", "ts"), tz)
    data = data.with_columns(
        drivers.day_type(when.dt.weekday()).alias("day_type"),
        drivers.daypart(when.dt.hour()).alias("daypart"),
        pl.col("amount").log1p().alias("amount_log"),
        pl.when(pl.col("tp_ts").is_null())
        .then(None)
        .otherwise(pl.col("comeback").is_in(["true", "1", "True"]).cast(pl.Float64))
        .alias("comeback"),
    )
    rows: list[tuple] = []
    for target, (column, own) in DRIVER_TARGETS.items():
        answered = data.filter(pl.col(column).is_not_null())
        for survey in sorted(answered["survey"].unique().to_list()):
            subset = answered.filter(pl.col("survey") == survey)
            if subset.height > MAX_DRIVER_RESPONSES:
                subset = subset.sample(MAX_DRIVER_RESPONSES, seed=2009)
            candidates = [
                i
                for i in items
                if i[len(ITEM) :] not in own
                and not (target == "engagement" and i.startswith(ITEM + "eng."))
                and subset[i].null_count() <= subset.height / 2
            ]
            candidates += [
                d for d in TOUCHPOINT_DRIVERS if subset[d].null_count() <= subset.height / 2
            ]
            for model in drivers.fit_by_context(
                subset.rename({column: target}), target, candidates, CONTEXTS
            ):
                rows.extend(_driver_model_rows(survey, model))
    return pl.DataFrame(rows, schema=DRIVER_SCHEMA, orient="row")


def _driver_model_rows(survey: int, model: drivers.DriverModel) -> list[tuple]:
    head = (survey, model.target, model.context_kind, model.context_value)
    if model.status != drivers.OK:
        return [(*head, "", model.status, model.n, None, None, None, None, None, None, False)]
    return [
        (*head, w.driver.removeprefix(ITEM), model.status, model.n, model.r2, w.weight, w.low,
         w.high, w.beta, w.p_value, w.significant)
        for w in model.drivers
    ]  # fmt: skip


def _figures(
    inputs: facts.Inputs, customer_facts: pl.DataFrame, as_of: dt.datetime
) -> dict[str, dict]:
    """The referral share of new customers and the retention economics, from the last year."""
    day = inputs.as_of_day
    tp = inputs.touchpoints.filter(pl.col("day") <= day)
    visits = tp.filter(pl.col("kind").is_in(list(VISIT_KINDS)))
    referred = first_referrals(inputs.referrals)["referred"]
    share = referral_share(customer_facts.select("customer", "first_day"), referred, day - 364, day)
    ids = customer_facts["customer"]
    before = ids.is_in(
        visits.filter(pl.col("day").is_between(day - 729, day - 365))["customer"].implode()
    ).to_numpy()
    recent = ids.is_in(visits.filter(pl.col("day") > day - 365)["customer"].implode()).to_numpy()
    profit = (
        customer_facts.select("customer")
        .join(inputs.money.select("customer", "profit_last_year"), on="customer", how="left")[
            "profit_last_year"
        ]
        .fill_null(0.0)
        .to_numpy()
    )
    econ = economics.retention_what_if(economics.observed_inputs(before, recent, profit))
    brought = customer_facts.filter(pl.col("referred_customers") > 0)
    return {
        "referrals": {
            "window_days": 365,
            "new_customers": 0 if share is None else share.n,
            "share": None if share is None else share.estimate,
            "low": None if share is None else share.low,
            "high": None if share is None else share.high,
            "small_sample": True if share is None else share.small_sample,
            "referrers": brought.height,
            "referred_customers": int(brought["referred_customers"].sum()),
            "referred_value": float(brought["referred_value"].sum()),
        },
        "economics": _finite(econ.as_dict()),
    }


def _finite(value):
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    return value


# --- reads for other apps ----------------------------------------------------------------------


def value_tier_for(customer_id: int) -> str | None:
    """The customer's value tier from the last run (platinum/gold/silver/bronze), or None."""
    return (
        CustomerInsight.objects.filter(customer_id=customer_id)
        .values_list("value_tier", flat=True)
        .first()
    )


def value_tiers_for(customer_ids: Iterable[int]) -> dict[int, str]:
    """Value tiers of many customers in one query (for lists of cases)."""
    return dict(
        CustomerInsight.objects.filter(customer_id__in=list(customer_ids)).values_list(
            "customer_id", "value_tier"
        )
    )
