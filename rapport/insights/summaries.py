"""The rows of the summary tables (ScoreSummary, MatrixSummary) from columnar facts.

Plain polars: rapport.insights.jobs feeds it responses (with their customers' segments) and the
customer facts grouped by unit, value tier, retention state and engagement tier, and writes what
comes out. Units count their whole subtree: a response or customer of a branch also counts for
its region and the enterprise (each unit's `lineage` is its path of ids).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import polars as pl

from rapport.insights import measures
from rapport.insights.loads import local_datetime
from rapport.surveys import scoring

SEGMENT_DIMENSIONS = ("value_tier", "visits_band", "channel")
PERIOD_KINDS = {"quarter": "1q", "year": "1y"}
CELL_KEYS = ("measure", "period_kind", "period_start", "dimension", "key")
GROUP_COLUMNS = ("home_unit", "value_tier", "retention_state", "engagement_tier", "matrix_cell")
GROUP_SUMS = ("customers", "lock_in_flagged", "clv", "profit")


def month_start(ts: pl.Expr, tz: zoneinfo.ZoneInfo) -> pl.Expr:
    return local_datetime(ts, tz).dt.truncate("1mo").dt.date()


def _by_dimension(frame: pl.DataFrame, units: pl.DataFrame, unit_column: str) -> pl.DataFrame:
    """Repeat each row once per dimension it counts in, with (dimension, key)."""
    parts = [frame.with_columns(pl.lit("all").alias("dimension"), pl.lit("").alias("key"))]
    lineage = units.select(pl.col("id").alias(unit_column), "lineage")
    parts.append(
        frame.filter(pl.col(unit_column).is_not_null())
        .join(lineage, on=unit_column, how="inner")
        .explode("lineage", empty_as_null=False)
        .with_columns(
            pl.lit("unit").alias("dimension"), pl.col("lineage").cast(pl.String).alias("key")
        )
        .drop("lineage")
    )
    for column in SEGMENT_DIMENSIONS:
        if column in frame.columns:
            parts.append(
                frame.filter(pl.col(column).is_not_null() & (pl.col(column) != "")).with_columns(
                    pl.lit(column).alias("dimension"), pl.col(column).cast(pl.String).alias("key")
                )
            )
    return pl.concat(parts, how="vertical")


def month_cells(
    responses: pl.DataFrame, units: pl.DataFrame, tz: zoneinfo.ZoneInfo
) -> pl.DataFrame:
    """Statistics per (measure, month, dimension, key) from responses with columns ts, unit,
    channel, value_tier, visits_band and the score columns."""
    keyed = responses.select(
        month_start(pl.col("ts"), tz).alias("period_start"),
        "unit",
        *[c for c in SEGMENT_DIMENSIONS if c in responses.columns],
        "nps_class",
        "csat",
        "ces",
        "csi_index",
        "loyalty",
        "attachment",
        "tier",
    )
    contributions = measures.response_contributions(keyed)
    # Sum per (measure, month, unit, segments) first: a few thousand rows, not one per response,
    # are then repeated per dimension (the sums are the same; memory stays flat).
    keys = [c for c in contributions.columns if c not in measures.STAT_COLUMNS]
    grouped = measures.cell_statistics(contributions, [k for k in keys if k != "measure"])
    spread = _by_dimension(grouped, units, "unit")
    cells = measures.add_statistics(spread, ["period_start", "dimension", "key"])
    return cells.with_columns(pl.lit("month").alias("period_kind"))


def difference(added: pl.DataFrame, removed: pl.DataFrame) -> pl.DataFrame:
    """Month cells of `added` minus those of `removed` (statistics subtracted)."""
    negative = removed.with_columns(-pl.col(c) for c in measures.STAT_COLUMNS)
    return add_cells(added, negative)


def add_cells(*frames: pl.DataFrame) -> pl.DataFrame:
    """Month cells added up per (measure, period, dimension, key); empty cells dropped."""
    keys = ["measure", "period_kind", "period_start", "dimension", "key"]
    columns = [*keys, *measures.STAT_COLUMNS]
    stacked = pl.concat(
        [f.with_columns(pl.lit("month").alias("period_kind")).select(columns) for f in frames],
        how="vertical_relaxed",
    )
    summed = stacked.group_by(keys).agg(pl.col(c).sum() for c in measures.STAT_COLUMNS)
    return summed.filter(pl.col("n") != 0)


def roll_up(months: pl.DataFrame, period_kind: str) -> pl.DataFrame:
    """Quarter or year cells from month cells, by adding their statistics."""
    every = PERIOD_KINDS[period_kind]
    shifted = months.with_columns(
        pl.col("period_start").cast(pl.Datetime).dt.truncate(every).dt.date()
    )
    cells = measures.add_statistics(shifted, ["period_start", "dimension", "key"])
    return cells.with_columns(pl.lit(period_kind).alias("period_kind"))


def score_rows(cells: pl.DataFrame) -> pl.DataFrame:
    """Cells with intervals, as ScoreSummary columns."""
    return measures.with_intervals(cells).select(
        *CELL_KEYS,
        *[pl.col(c).cast(pl.Int64) for c in ("n", "a", "b", "c")],
        pl.col("total").cast(pl.Float64),
        pl.col("squares").cast(pl.Float64),
        "estimate",
        "low",
        "high",
        "small_sample",
    )


def group_customers(facts: pl.DataFrame) -> pl.DataFrame:
    """Customer facts counted per GROUP_COLUMNS, with flagged lock-ins, CLV and profit summed."""
    return facts.group_by(*GROUP_COLUMNS).agg(
        pl.len().cast(pl.Int64).alias("customers"),
        pl.col("lock_in_flag").cast(pl.Int64).sum().alias("lock_in_flagged"),
        pl.col("clv").sum(),
        pl.col("profit").sum(),
    )


def _spread_groups(groups: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    frame = groups.with_columns(pl.col("home_unit").cast(pl.Int64))
    parts = [frame.with_columns(pl.lit("all").alias("dimension"), pl.lit("").alias("key"))]
    lineage = units.select(pl.col("id").alias("home_unit"), "lineage")
    parts.append(
        frame.filter(pl.col("home_unit").is_not_null())
        .join(lineage, on="home_unit", how="inner")
        .explode("lineage", empty_as_null=False)
        .with_columns(
            pl.lit("unit").alias("dimension"), pl.col("lineage").cast(pl.String).alias("key")
        )
        .drop("lineage")
    )
    parts.append(
        frame.with_columns(
            pl.lit("value_tier").alias("dimension"), pl.col("value_tier").alias("key")
        )
    )
    return pl.concat(parts, how="vertical")


MATRIX_KEYS = ("dimension", "key", "retention_state", "engagement_tier")


def matrix_rows(groups: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    """MatrixSummary rows: by all / unit (subtree) / value tier × retention state × tier."""
    spread = _spread_groups(groups, units).rename({"matrix_cell": "cell"})
    return add_matrix_rows(spread)


def add_matrix_rows(*frames: pl.DataFrame) -> pl.DataFrame:
    """Matrix rows added up per MATRIX_KEYS (a stored matrix plus a change, say); rows left
    without customers are dropped."""
    columns = [*MATRIX_KEYS, "cell", "customers", "lock_in_flagged", "clv", "profit"]
    stacked = pl.concat([f.select(columns) for f in frames], how="vertical_relaxed")
    return (
        stacked.group_by(*MATRIX_KEYS)
        .agg(
            pl.col("cell").first(),
            pl.col("customers").sum(),
            pl.col("lock_in_flagged").sum(),
            pl.col("clv").sum(),
            pl.col("profit").sum(),
        )
        .filter(pl.col("customers") != 0)
        .sort(*MATRIX_KEYS)
    )


def matrix_change(
    old_groups: pl.DataFrame, new_groups: pl.DataFrame, units: pl.DataFrame
) -> pl.DataFrame:
    """Matrix rows of new_groups minus those of old_groups: what to add to a stored matrix."""
    old = matrix_rows(old_groups, units).with_columns(
        -pl.col(c) for c in ("customers", "lock_in_flagged", "clv", "profit")
    )
    columns = [*MATRIX_KEYS, "cell", "customers", "lock_in_flagged", "clv", "profit"]
    return pl.concat([matrix_rows(new_groups, units), old.select(columns)])


def current_mix_cells(matrix: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Engagement mix of customers by their latest tier ("current" cells), by all / unit / value
    tier, from the matrix rows: measure tier.<tier>, a customers in the tier, n customers with
    any tier."""
    spread = matrix.filter(pl.col("engagement_tier").is_in(list(scoring.TIERS)))
    totals = spread.group_by("dimension", "key").agg(pl.col("customers").sum().alias("n"))
    counts = spread.group_by("dimension", "key", "engagement_tier").agg(
        pl.col("customers").sum().alias("a")
    )
    tiers = pl.DataFrame({"engagement_tier": list(scoring.TIERS)})
    cells = (
        totals.join(tiers, how="cross")
        .join(counts, on=["dimension", "key", "engagement_tier"], how="left")
        .with_columns(
            ("tier." + pl.col("engagement_tier")).alias("measure"),
            pl.col("a").fill_null(0),
            pl.lit(0, dtype=pl.Int64).alias("b"),
            pl.lit(0, dtype=pl.Int64).alias("c"),
            pl.lit(0.0).alias("total"),
            pl.lit(0.0).alias("squares"),
            pl.lit("current").alias("period_kind"),
            pl.lit(as_of).alias("period_start"),
        )
    )
    return cells.select(*CELL_KEYS, "n", "a", "b", "c", "total", "squares")


# --- Segment summary ------------------------------------------------------------------------

LOW_P_ALIVE = 0.5  # "low P(alive)": more likely gone than not (rapport.insights.queries uses it)
SEGMENT_KEYS = (
    "home_unit",
    "value_tier",
    "retention_state",
    "engagement_tier",
    "cell",
    "visits_band",
    "model_year",
    "flags",
    "attribute",
    "attribute_value",
)
SEGMENT_SUMS = (
    "customers",
    "lock_in_flagged",
    "clv",
    "profit",
    "revenue",
    "p_alive_sum",
    "p_alive_n",
    "promoters",
    "passives",
    "detractors",
    "referrers",
    "referred_customers",
    "low_alive",
    "low_alive_clv",
)
# The per-customer flags the explorer filters on, in the order of their bits; a flag slice is
# the customers with every flag it names (so any combination is a slice of its own).
FLAG_NAMES = ("lock_in", "low_alive", "promoter", "referrer")
# An attribute value gets SegmentSummary rows when at least this many customers have it; fewer
# are read from CustomerAttributeValue rows directly (a few thousand index entries at most).
ATTRIBUTE_SUMMARY_MIN = 5_000


def flags_key(names: set[str] | frozenset[str]) -> str:
    """The `flags` key of the slice of customers with all these flags ("" for everyone)."""
    return "+".join(n for n in FLAG_NAMES if n in names)


def _flag_subsets() -> pl.DataFrame:
    """Each flag mask (bit i = FLAG_NAMES[i]) with the non-empty slices a customer carrying it
    belongs to: one row per (mask, subset)."""
    masks, keys = [], []
    for mask in range(1, 1 << len(FLAG_NAMES)):
        for sub in range(1, mask + 1):
            if sub & mask == sub:
                masks.append(mask)
                keys.append(flags_key({n for i, n in enumerate(FLAG_NAMES) if sub >> i & 1}))
    return pl.DataFrame(
        {"mask": masks, "flags": keys}, schema={"mask": pl.Int64, "flags": pl.String}
    )


def segment_visits_band(visits_per_year: pl.Expr) -> pl.Expr:
    """The explorer's bands of service visits a year (queries.VISITS_BANDS: 0–2 is < 3 or none,
    3–6 is < 7), half-open so that a fractional rate falls in exactly one band."""
    return (
        pl.when(visits_per_year.is_null() | (visits_per_year < 3))
        .then(pl.lit("0-2"))
        .when(visits_per_year < 7)
        .then(pl.lit("3-6"))
        .otherwise(pl.lit("7+"))
    )


# The one flag slice that also has rows by visits band and model year: low P(alive) holds half
# the base, too many customers to add up per request (value at risk by visits band or model
# years reads it too); the other flags hold a few % each, read from their partial indexes on
# CustomerInsight (models.SEGMENT_FLAG_INDEXES). About 60,000 rows on a 1M base.
FINE_FLAGS = "low_alive"
BASE_KEYS = SEGMENT_KEYS[:7]  # the keys of every slice (flags and attribute aside)
ATTRIBUTE_KEYS = ("home_unit", "value_tier", "retention_state", "engagement_tier", "cell")


def _customer_sums(insight: pl.DataFrame) -> pl.DataFrame:
    """Per customer: the keys, the flag mask and each of SEGMENT_SUMS as a number, so that
    every slice is a plain sum of these columns."""
    low = (pl.col("p_alive").is_not_null() & (pl.col("p_alive") < LOW_P_ALIVE)).fill_null(False)
    nps = pl.col("nps_class").fill_null("")
    referrer = pl.col("referrals").fill_null(0) > 0
    lock_in = pl.col("lock_in_flag").fill_null(False).cast(pl.Boolean)
    p_alive = pl.col("p_alive").fill_nan(None)
    clv = pl.col("clv").fill_null(0.0)
    return insight.select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("home_unit_id").cast(pl.Int64).alias("home_unit"),
        pl.col("value_tier").fill_null(""),
        pl.col("retention_state").fill_null(""),
        pl.col("engagement_tier").fill_null(""),
        pl.col("matrix_cell").fill_null("").alias("cell"),
        segment_visits_band(pl.col("visits_per_year")).alias("visits_band"),
        pl.col("model_year").cast(pl.Int64),
        (
            lock_in.cast(pl.Int64)
            + low.cast(pl.Int64) * 2
            + (nps == "promoter").cast(pl.Int64) * 4
            + referrer.cast(pl.Int64) * 8
        ).alias("mask"),
        pl.lit(1, dtype=pl.Int64).alias("customers"),
        lock_in.cast(pl.Int64).alias("lock_in_flagged"),
        clv.alias("clv"),
        pl.col("profit").fill_null(0.0),
        pl.col("revenue").fill_null(0.0),
        p_alive.fill_null(0.0).alias("p_alive_sum"),
        p_alive.is_not_null().cast(pl.Int64).alias("p_alive_n"),
        (nps == "promoter").cast(pl.Int64).alias("promoters"),
        (nps == "passive").cast(pl.Int64).alias("passives"),
        (nps == "detractor").cast(pl.Int64).alias("detractors"),
        referrer.cast(pl.Int64).alias("referrers"),
        pl.col("referred_customers").fill_null(0).cast(pl.Int64),
        low.cast(pl.Int64).alias("low_alive"),
        pl.when(low).then(clv).otherwise(0.0).alias("low_alive_clv"),
    )


def _coarse(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows without the visits band and model year (visits_band "", model_year NULL): a
    segment that filters on neither adds up these few rows instead of 48 times as many."""
    return frame.with_columns(
        pl.lit("").alias("visits_band"), pl.lit(None, dtype=pl.Int64).alias("model_year")
    )


def _summed(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.group_by(keys).agg(pl.col(c).sum() for c in SEGMENT_SUMS)


def segment_rows(
    insight: pl.DataFrame,
    attributes: pl.DataFrame | None = None,
    summarized: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """SegmentSummary rows from CustomerInsight-shaped rows (facts.insight_rows plus
    model_year): group_bys over columns already in memory. Every customer counts in the ""
    slice and in the flag slice of each combination of their flags; with `attributes`
    (customer_id, attribute, value) also in the slice of each attribute value that is
    `summarized` (attribute, attribute_value) — by default, held by ATTRIBUTE_SUMMARY_MIN
    customers or more (the incremental run passes the stored ones, so that it updates exactly
    the rows the last full run wrote). Only the "" and the low P(alive) slices have rows by
    visits band and model year; they and the flag slices have coarse rows (_coarse).
    Customers are summed per keys and flag mask first, so the flag slices spread a few
    thousand sums, not a million customers."""
    sums = _customer_sums(insight)
    by_mask = _summed(sums, [*BASE_KEYS, "mask"])
    blank = [pl.lit("").alias("attribute"), pl.lit("").alias("attribute_value")]
    spread = by_mask.filter(pl.col("mask") > 0).join(_flag_subsets(), on="mask")
    everyone = by_mask.with_columns(pl.lit("").alias("flags"))
    low = spread.filter(pl.col("flags") == FINE_FLAGS)
    parts = [
        _summed(frame, [*BASE_KEYS, "flags"]).with_columns(*blank)
        for frame in (everyone, _coarse(everyone), _coarse(spread), low)
    ]
    if attributes is not None and attributes.height:
        values = attributes.select(
            pl.col("customer_id").cast(pl.Int64),
            pl.col("attribute"),
            pl.col("value").alias("attribute_value"),
        )
        if summarized is None:
            summarized = (
                values.group_by("attribute", "attribute_value")
                .len()
                .filter(pl.col("len") >= ATTRIBUTE_SUMMARY_MIN)
                .drop("len")
            )
        values = values.join(summarized, on=["attribute", "attribute_value"], how="semi")
        narrow = sums.select("customer_id", *ATTRIBUTE_KEYS, *SEGMENT_SUMS)
        for _name, of_one in values.partition_by("attribute", as_dict=True).items():
            parts.append(
                _summed(
                    narrow.join(of_one, on="customer_id"),
                    [*ATTRIBUTE_KEYS, "attribute", "attribute_value"],
                )
                .pipe(_coarse)
                .with_columns(pl.lit("").alias("flags"))
            )
    columns = [*SEGMENT_KEYS, *SEGMENT_SUMS]
    # In the order of the table's (attribute, attribute_value, flags, visits_band, home_unit)
    # index, so that a slice's rows are read from neighbouring pages, not all over the table.
    order = ["attribute", "attribute_value", "flags", "visits_band", "home_unit", "model_year"]
    stacked = pl.concat([p.select(columns) for p in parts], how="vertical_relaxed")
    return stacked.sort(order, nulls_last=False)


def attribute_value_rows(attributes: pl.DataFrame, insight: pl.DataFrame) -> pl.DataFrame:
    """CustomerAttributeValue rows: each attribute value of a customer with facts, with their
    lifetime value (the order of the lists)."""
    return attributes.join(
        insight.select(pl.col("customer_id").cast(pl.Int64), pl.col("clv").fill_null(0.0)),
        on="customer_id",
    ).select("attribute", "value", pl.col("customer_id").alias("insight_id"), "clv")


def add_segment_rows(*frames: pl.DataFrame) -> pl.DataFrame:
    """Segment rows added up per SEGMENT_KEYS (stored rows plus a change); empty rows dropped."""
    columns = [*SEGMENT_KEYS, *SEGMENT_SUMS]
    stacked = pl.concat(
        [f.select(columns).with_columns(pl.col("model_year").cast(pl.Int64)) for f in frames],
        how="vertical_relaxed",
    )
    return (
        stacked.group_by(*SEGMENT_KEYS)
        .agg(pl.col(c).sum() for c in SEGMENT_SUMS)
        .filter(pl.col("customers") != 0)
    )


def negated_segment_rows(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(-pl.col(c) for c in SEGMENT_SUMS)


def segment_update(
    stored: pl.DataFrame, old: pl.DataFrame, new: pl.DataFrame
) -> tuple[list[int], pl.DataFrame]:
    """What an incremental run changes in SegmentSummary: the ids of the stored rows whose keys
    the changed customers left or joined, and those rows recomputed (stored − old + new). Only
    these are deleted and written, not the whole table."""
    keys = list(SEGMENT_KEYS)
    touched_keys = pl.concat([old.select(keys), new.select(keys)], how="vertical_relaxed").unique()
    touched = stored.join(touched_keys, on=keys, how="semi", nulls_equal=True)
    rows = add_segment_rows(touched, negated_segment_rows(old), new)
    return touched["id"].to_list(), rows
