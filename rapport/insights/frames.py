"""Columnar loads and bulk writes between the database and polars, for the insights job.

One SQL query per table (per chunk of ids for incremental loads), read through the database
cursor `CHUNK` rows at a time — a server-side cursor on PostgreSQL, so 20M touchpoints never sit
in client memory as Python rows — and turned into typed polars columns chunk by chunk. Times come
out of SQL as epoch seconds (integers are cheap to move); local days are computed in polars.
JSON context fields are extracted in SQL with each vendor's JSON function. Works on SQLite and
PostgreSQL. Writes use COPY on PostgreSQL and executemany on SQLite.

No ORM objects: the model classes are used only for their table and column names.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import sqlite3
import tempfile
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connection

from rapport.customers.models import Customer, CustomerIdentity, SourceSystem
from rapport.insights.facts import visits_band
from rapport.insights.models import CustomerInsight as CI
from rapport.insights.models import MatrixSummary, SegmentSummary
from rapport.insights.models import ScoreSummary as SS
from rapport.org.models import OrgUnit
from rapport.surveys.models import Answer, Question, Response, Survey
from rapport.touchpoints.models import Touchpoint

CHUNK = 200_000
WRITE_CHUNK = 50_000  # rows per executemany on SQLite: its Python tuples are the write's peak
ID_CHUNK = 900  # ids per IN (...) list: below SQLite's host-parameter limit everywhere


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _col(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def epoch(column: str) -> str:
    """SQL for a timestamp column as whole epoch seconds (UTC)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER)"


def json_text(column: str, key: str) -> str:
    """SQL for a top-level key of a JSON column, as text (NULL when absent)."""
    if connection.vendor == "postgresql":
        return f"({column} ->> '{key}')"
    return f"CAST(json_extract({column}, '$.{key}') AS TEXT)"


def fetch_frame(sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """Run one query and return its rows as a polars frame with this schema (column order)."""
    parts: list[pl.DataFrame] = []
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, list(params))
        while rows := cursor.fetchmany(CHUNK):
            parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical", rechunk=True)


@dataclass(frozen=True)
class Epoch:
    """A timestamp column loaded as epoch seconds. SQLite keeps timestamps as text, which polars
    parses faster than SQLite's strftime; PostgreSQL extracts the epoch itself."""

    column: str


@dataclass(frozen=True)
class Money:
    """A decimal(…, 2) column loaded as a float. SQLite sends it as whole cents, since turning
    integers into text is much cheaper there than turning floats into text."""

    column: str


@dataclass(frozen=True)
class Code:
    """A text column with a known set of values, loaded as a polars Enum of them: SQL sends a
    small integer per row (a CASE over the values; anything else comes back null), which is
    far cheaper to move and keep than the text."""

    column: str
    values: tuple[str, ...]


Column = str | Epoch | Money | Code

SEPARATOR = "\x1f"  # ASCII unit separator: never inside the text values we load
ID_RANGE = 500_000  # ids per SQLite chunk of a columnar load
CHUNK_THREADS = 2  # SQLite chunks read at once, each on its own connection
NULL = "\\N"  # how a numeric column's NULL travels in a newline-joined SQLite column


def _code_sql(column: Code) -> str:
    whens = " ".join(
        f"WHEN '{value}' THEN {i}" for i, value in enumerate(column.values) if "'" not in value
    )
    return f"CASE {column.column} {whens} END"


def _pg_sql(column: Column) -> str:
    if isinstance(column, Code):
        return _code_sql(column)
    if isinstance(column, Epoch):
        return epoch(column.column)
    if isinstance(column, Money):
        return f"CAST({column.column} AS DOUBLE PRECISION)"
    return column


# unixepoch() (SQLite 3.38+) turns the stored text into seconds at less cost than sending the
# text and parsing it in polars; older SQLite sends the text.
_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)


def _sqlite_sql(column: Column) -> str:
    if isinstance(column, Code):
        return _code_sql(column)
    if isinstance(column, Epoch):
        return f"unixepoch({column.column})" if _UNIXEPOCH else column.column
    if isinstance(column, Money):
        return f"CAST(ROUND({column.column} * 100) AS INTEGER)"
    return column


def _is_text(column: Column, dtype: Any) -> bool:
    """Free text travels joined by SEPARATOR and is split; everything else (numbers, codes,
    timestamps, which never hold a newline) travels one value a line and is read by polars'
    CSV reader, which parses numbers without a string per value."""
    return dtype == pl.String and not isinstance(column, Epoch | Code)


def _sqlite_value(column: Column, name: str, dtype: Any) -> pl.Expr:
    """The final polars column from the loaded one (text split, or read as numbers/text)."""
    col = pl.col(name)
    if isinstance(column, Code):
        return _decoded(column, col)
    if _is_text(column, dtype):
        return pl.when(col == "").then(None).otherwise(col).alias(name)
    if isinstance(column, Epoch) and not _UNIXEPOCH:
        return col.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False).dt.epoch("s").alias(name)
    if isinstance(column, Money):
        return (col / 100).alias(name)
    return col.cast(dtype).alias(name)


def _decoded(column: Code, codes: pl.Expr) -> pl.Expr:
    """Codes → a Categorical of the column's values (unknown values were sent as null)."""
    return (
        pl.lit(pl.Series(column.values, dtype=pl.Categorical))
        .gather(codes)
        .alias(codes.meta.output_name())
    )


def _read_lines(text: str, name: str, dtype: pl.DataType) -> pl.Series:
    frame = pl.read_csv(
        io.BytesIO(text.encode()),
        has_header=False,
        new_columns=[name],
        schema_overrides={name: dtype},
        quote_char=None,
        null_values=[NULL],
    )
    return frame[name]


def fetch_columns(
    select: Sequence[Column],
    rest: str,
    params: Sequence[Any],
    schema: dict[str, Any],
    *,
    chunk_on: tuple[Any, str] | None = None,
) -> pl.DataFrame:
    """A big load as columns, without a Python object per row (see fetch_column_chunks)."""
    parts = fetch_column_chunks(select, rest, params, schema, chunk_on=chunk_on)
    if len(parts) == 1:
        return parts[0]
    # No rechunk: copying the chunks into one buffer would hold the frame twice at the peak.
    return pl.concat(parts, how="vertical", rechunk=False)


def fetch_column_chunks(
    select: Sequence[Column],
    rest: str,
    params: Sequence[Any],
    schema: dict[str, Any],
    *,
    chunk_on: tuple[Any, str] | None = None,
    each: Callable[[pl.DataFrame], Any] = lambda frame: frame,
) -> list[Any]:
    """A big load as columns, without a Python object per row: `each` of its chunks, in order.

    `each` lets a caller shrink every chunk (filter, pre-aggregate) before the next arrives, so
    the whole table never sits in memory at once.

    `select` are SQL expressions in the order of `schema`; `rest` is the FROM … WHERE … part.
    On PostgreSQL the rows are streamed with COPY … TO STDOUT (CSV) into a temporary file that
    polars parses. On SQLite every column comes back as one string of its values joined by
    SEPARATOR (group_concat, in the database's C code), split by polars; with `chunk_on`
    (model, id expression) the table is read in ranges of ID_RANGE ids so that no string grows
    beyond a few megabytes. NULL and the empty string both come back as null.
    """
    if connection.vendor == "postgresql":
        read = {
            name: pl.UInt8 if isinstance(column, Code) else dtype
            for column, (name, dtype) in zip(select, schema.items(), strict=True)
        }
        frame = _copy_frame(f"SELECT {', '.join(map(_pg_sql, select))} {rest}", params, read)
        codes = [(c, n) for c, n in zip(select, schema, strict=True) if isinstance(c, Code)]
        return [each(frame.with_columns(_decoded(c, pl.col(n)) for c, n in codes))]
    if chunk_on is None:
        return [each(_concat_frame(select, rest, params, schema))]
    model, id_expr = chunk_on
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN({_col(model, 'id')}), MAX({_col(model, 'id')}) FROM {_table(model)}"
        )
        low, high = cursor.fetchone()
    if low is None:
        return [each(pl.DataFrame(schema=schema))]
    where = f"{rest} {'AND' if ' WHERE ' in rest else 'WHERE'} {id_expr} >= %s AND {id_expr} < %s"

    def chunk(start: int) -> Any:
        try:
            return each(_concat_frame(select, where, [*params, start, start + ID_RANGE], schema))
        finally:
            if threading.current_thread() is not owner:
                connection.close()

    owner = threading.current_thread()
    starts = range(low, high + 1, ID_RANGE)
    if len(starts) == 1:
        return [chunk(starts[0])]
    # SQLite works outside Python's lock: two chunks at once use both cores.
    with ThreadPoolExecutor(max_workers=CHUNK_THREADS) as pool:
        return list(pool.map(chunk, starts))


def _concat_frame(
    select: Sequence[Column], rest: str, params: Sequence[Any], schema: dict[str, Any]
) -> pl.DataFrame:
    inner = ", ".join(f"{_sqlite_sql(expr)} AS c{i}" for i, expr in enumerate(select))
    columns = list(zip(select, schema.items(), strict=True))
    outer = ", ".join(
        f"group_concat(COALESCE(CAST(c{i} AS TEXT), ''), char(31))"
        if _is_text(column, dtype)
        else f"group_concat(COALESCE(CAST(c{i} AS TEXT), '{NULL}'), char(10))"
        for i, (column, (_n, dtype)) in enumerate(columns)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {outer} FROM (SELECT {inner} {rest})", list(params))
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return pl.DataFrame(schema=schema)
    loaded: dict[str, pl.Series] = {}
    for value, (column, (name, dtype)) in zip(row, columns, strict=True):
        if _is_text(column, dtype):
            loaded[name] = (
                pl.Series(name, [value]).str.split(SEPARATOR).explode(empty_as_null=False)
            )
        elif isinstance(column, Code):
            loaded[name] = _read_lines(value, name, pl.UInt8)
        elif isinstance(column, Epoch):
            loaded[name] = _read_lines(value, name, pl.Int64 if _UNIXEPOCH else pl.String)
        else:
            loaded[name] = _read_lines(
                value, name, pl.Int64 if isinstance(column, Money) else dtype
            )
        del value
    del row
    return pl.DataFrame(loaded).select(
        _sqlite_value(column, n, dtype) for column, (n, dtype) in columns
    )


def _copy_frame(sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    with tempfile.TemporaryFile() as buffer:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", list(params) or None
            ) as copy,
        ):
            for block in copy:
                buffer.write(block)
        if buffer.tell() == 0:
            return pl.DataFrame(schema=schema)
        buffer.seek(0)
        return pl.read_csv(buffer, has_header=False, schema=schema)


def fetch_columns_in(
    select: Sequence[Column],
    rest: str,
    ids: Iterable[int],
    schema: dict[str, Any],
    extra: Sequence[Any] = (),
) -> pl.DataFrame:
    """fetch_columns for some ids: `rest` has one `{ids}` placeholder for an IN list, filled
    with ID_CHUNK ids at a time; `extra` parameters come before the ids."""
    ids = sorted(set(ids))
    parts = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ",".join(["%s"] * len(chunk))
        parts.append(fetch_columns(select, rest.format(ids=marks), [*extra, *chunk], schema))
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical", rechunk=True)


# --- loads --------------------------------------------------------------------------------------


def _touchpoint_schema() -> dict[str, Any]:
    return {
        "customer": pl.Int64,
        "ts": pl.Int64,
        "kind": pl.Categorical,
        "amount": pl.Float64,
        "margin": pl.Float64,
    }


def _real() -> str:
    return "DOUBLE PRECISION" if connection.vendor == "postgresql" else "REAL"


def _touchpoint_columns(kinds: Sequence[str]) -> list[Column]:
    return [
        _col(Touchpoint, "customer"),
        Epoch(_col(Touchpoint, "occurred_at")),
        Code(_col(Touchpoint, "kind"), tuple(kinds)),
        Money(_col(Touchpoint, "amount")),
        Money(_col(Touchpoint, "margin")),
    ]


def _cursor_sql(column: Column) -> str:
    """A column for the row-by-row cursor path (small loads)."""
    if isinstance(column, Epoch):
        return epoch(column.column)
    if isinstance(column, Money):
        return f"CAST({column.column} AS {_real()})"
    return column


def _kind_filter(kinds: Sequence[str]) -> str:
    """`kind IN (...)`; on SQLite written `+kind` so the planner does not pick the kind index:
    for most of the table a sequential scan is faster than an index lookup per row, and with a
    customer filter the customer index is the one to use."""
    column = _col(Touchpoint, "kind")
    if connection.vendor == "sqlite":
        column = "+" + column
    return f"{column} IN ({','.join(['%s'] * len(kinds))})"


def load_touchpoints(kinds: Sequence[str]) -> pl.DataFrame:
    """Every touchpoint of these kinds: customer, ts (epoch s), kind (categorical), amount,
    margin."""
    rest = f"FROM {_table(Touchpoint)} WHERE {_kind_filter(kinds)}"
    return fetch_columns(
        _touchpoint_columns(kinds),
        rest,
        list(kinds),
        _touchpoint_schema(),
        chunk_on=(Touchpoint, _col(Touchpoint, "id")),
    )


def load_touchpoints_and_money(
    kinds: Sequence[str], default_margin_rate: float, until: dt.datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """load_touchpoints(kinds) and load_money(default_margin_rate, until) from ONE scan of the
    touchpoint table: every touchpoint comes back (other kinds with a null kind), the money is
    summed in polars, then the other kinds are dropped. Reading a few more rows costs far less
    than the database's GROUP BY, which walks the customer index row by row."""

    def each(chunk: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        return chunk.filter(pl.col("kind").is_not_null()), money_of(
            chunk, default_margin_rate, until
        )

    parts = fetch_column_chunks(
        _touchpoint_columns(kinds),
        f"FROM {_table(Touchpoint)}",
        [],
        _touchpoint_schema(),
        chunk_on=(Touchpoint, _col(Touchpoint, "id")),
        each=each,
    )
    touchpoints = pl.concat([t for t, _m in parts], how="vertical", rechunk=False)
    sums = ("revenue", "profit", "profit_last_year")
    money = (
        pl.concat([m for _t, m in parts], how="vertical")
        .group_by("customer")
        .agg(pl.col(c).sum() for c in sums)
    )
    return touchpoints, money


def money_of(
    touchpoints: pl.DataFrame, default_margin_rate: float, until: dt.datetime
) -> pl.DataFrame:
    """load_money's figures from a frame of touchpoints (customer, ts, amount, margin)."""
    end = math.floor(until.timestamp())
    year = math.floor((until - dt.timedelta(days=365)).timestamp())
    amount = pl.col("amount").fill_null(0.0)
    profit = (
        pl.when(pl.col("margin").is_not_null())
        .then(pl.col("margin"))
        .otherwise(amount * default_margin_rate)
    )
    return (
        touchpoints.filter(pl.col("ts") < end)
        .group_by("customer")
        .agg(
            amount.sum().alias("revenue"),
            profit.sum().alias("profit"),
            pl.when(pl.col("ts") >= year)
            .then(profit)
            .otherwise(0.0)
            .sum()
            .alias("profit_last_year"),
        )
        .select(
            pl.col("customer").cast(pl.Int64),
            *(pl.col(c).cast(pl.Float64) for c in ("revenue", "profit", "profit_last_year")),
        )
    )


def load_touchpoints_and_money_of(
    customer_ids: Iterable[int],
    kinds: Sequence[str],
    default_margin_rate: float,
    until: dt.datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """load_touchpoints_of and load_money_of in one pass over the customers' touchpoints (one
    walk of the customer index instead of two)."""
    every = fetch_columns_in(
        _touchpoint_columns(kinds),
        f"FROM {_table(Touchpoint)} WHERE {_col(Touchpoint, 'customer')} IN ({{ids}})",
        customer_ids,
        _touchpoint_schema(),
    )
    money = money_of(every, default_margin_rate, until)
    return every.filter(pl.col("kind").is_not_null()), money


def load_touchpoints_of(customer_ids: Iterable[int], kinds: Sequence[str]) -> pl.DataFrame:
    """The touchpoints of these kinds of some customers (the incremental run's load)."""
    rest = (
        f"FROM {_table(Touchpoint)} "
        f"WHERE {_kind_filter(kinds)} AND {_col(Touchpoint, 'customer')} IN ({{ids}})"
    )
    return fetch_columns_in(
        _touchpoint_columns(kinds), rest, customer_ids, _touchpoint_schema(), extra=list(kinds)
    )


MONEY_SCHEMA = {
    "customer": pl.Int64,
    "revenue": pl.Float64,
    "profit": pl.Float64,
    "profit_last_year": pl.Float64,
}


def _money_columns() -> list[str]:
    """customer, revenue, profit, profit in the last year; parameters: rate, year start, rate."""
    amount, margin = _col(Touchpoint, "amount"), _col(Touchpoint, "margin")
    profit = f"CASE WHEN {margin} IS NOT NULL THEN {margin} ELSE COALESCE({amount}, 0) * %s END"
    recent = f"CASE WHEN {_col(Touchpoint, 'occurred_at')} >= %s THEN {profit} ELSE 0 END"
    return [
        _col(Touchpoint, "customer"),
        f"CAST(SUM(COALESCE({amount}, 0)) AS {_real()})",
        f"CAST(SUM({profit}) AS {_real()})",
        f"CAST(SUM({recent}) AS {_real()})",
    ]


def _money_params(rate: float, until: dt.datetime) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    return [rate, adapt(until - dt.timedelta(days=365)), rate, adapt(until)]


def load_money(default_margin_rate: float, until: dt.datetime) -> pl.DataFrame:
    """Per customer over every touchpoint before `until`: revenue (sum of amounts), profit
    (margins; amount × the default rate where the margin is missing) and the profit of the 365
    days before `until` — summed in the database, one row per customer."""
    customer, occurred = _col(Touchpoint, "customer"), _col(Touchpoint, "occurred_at")
    rest = f"FROM {_table(Touchpoint)} WHERE {occurred} < %s GROUP BY {customer}"
    params = _money_params(default_margin_rate, until)
    return fetch_columns(_money_columns(), rest, params, MONEY_SCHEMA)


def load_money_of(
    customer_ids: Iterable[int], default_margin_rate: float, until: dt.datetime
) -> pl.DataFrame:
    """load_money for some customers."""
    customer, occurred = _col(Touchpoint, "customer"), _col(Touchpoint, "occurred_at")
    rest = (
        f"FROM {_table(Touchpoint)} WHERE {occurred} < %s AND {customer} IN ({{ids}}) "
        f"GROUP BY {customer}"
    )
    params = _money_params(default_margin_rate, until)
    return fetch_columns_in(_money_columns(), rest, customer_ids, MONEY_SCHEMA, extra=params)


def customers_with_touchpoints_after(touchpoint_id: int) -> tuple[pl.Series, int]:
    """Customers with a touchpoint whose id is above the watermark, and the new watermark."""
    t = _table(Touchpoint)
    frame = fetch_frame(
        f"SELECT {_col(Touchpoint, 'id')}, {_col(Touchpoint, 'customer')} FROM {t} "
        f"WHERE {_col(Touchpoint, 'id')} > %s",
        [touchpoint_id],
        {"id": pl.Int64, "customer": pl.Int64},
    )
    top = int(frame["id"].max()) if frame.height else touchpoint_id
    return frame["customer"].unique(), top


def max_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX({_col(model, 'id')}) FROM {_table(model)}")
        value = cursor.fetchone()[0]
    return int(value or 0)


REFERRAL_SCHEMA = {
    "customer": pl.Int64,
    "ts": pl.Int64,
    "referred_ref": pl.String,
    "identity": pl.Int64,
}


def load_referrals() -> pl.DataFrame:
    """Referral touchpoints: customer (the referrer), ts and the friend as resolved `referred`.

    The friend in context `referred_customer` is an external id in some source system — looked
    up in SQL with every source named, so the unique (source, external_id) index serves it; the
    lowest customer id wins if several sources share the id — or a Rapport customer id; an
    unknown friend stays null (recorded, not yet a customer).
    """
    friend = json_text(f"t.{_col(Touchpoint, 'context')}", "referred_customer")
    ci = _table(CustomerIdentity)
    sources = f"SELECT {_col(SourceSystem, 'id')} FROM {_table(SourceSystem)}"
    identity = (
        f"(SELECT MIN(ci.{_col(CustomerIdentity, 'customer')}) FROM {ci} ci "
        f"WHERE ci.{_col(CustomerIdentity, 'source')} IN ({sources}) "
        f"AND ci.{_col(CustomerIdentity, 'external_id')} = {friend})"
    )
    occurred = epoch("t." + _col(Touchpoint, "occurred_at"))
    sql = (
        f"SELECT t.{_col(Touchpoint, 'customer')}, {occurred}, "
        f"{friend}, {identity} FROM {_table(Touchpoint)} t "
        f"WHERE t.{_col(Touchpoint, 'kind')} = %s"
    )
    refs = fetch_frame(sql, ["referral"], REFERRAL_SCHEMA)
    digits = refs.filter(
        pl.col("identity").is_null() & pl.col("referred_ref").str.contains(r"^\d+$")
    )
    numbers = digits["referred_ref"].cast(pl.Int64).unique().to_list()
    known = load_customer_ids(numbers)["id"] if numbers else pl.Series([], dtype=pl.Int64)
    numeric = pl.col("referred_ref").cast(pl.Int64, strict=False)
    return refs.select(
        "customer",
        "ts",
        pl.coalesce("identity", pl.when(numeric.is_in(known.implode())).then(numeric)).alias(
            "referred"
        ),
    )


CUSTOMER_SCHEMA = {"id": pl.Int64, "home_unit": pl.Int64, "model_year": pl.Int64}


def model_year_sql() -> str:
    """SQL for a customer's `model_year` attribute as an integer: a JSON integer 0–9999 or a
    four-digit string, else NULL (bad data is left out of model-year segments, never an
    error in the job)."""
    attrs = _col(Customer, "attributes")
    if connection.vendor == "postgresql":
        text = f"({attrs} ->> 'model_year')"
        return f"CASE WHEN {text} ~ '^[0-9]{{1,4}}$' THEN CAST({text} AS INTEGER) END"
    value = f"json_extract({attrs}, '$.model_year')"
    kind = f"json_type({attrs}, '$.model_year')"
    return (
        f"CASE WHEN {kind} = 'integer' AND {value} BETWEEN 0 AND 9999 THEN {value} "
        f"WHEN {kind} = 'text' AND {value} GLOB '[0-9][0-9][0-9][0-9]' "
        f"THEN CAST({value} AS INTEGER) END"
    )


def load_customers() -> pl.DataFrame:
    """Every customer not merged into another: id, home_unit, model_year."""
    rest = f"FROM {_table(Customer)} WHERE {_col(Customer, 'merged_into')} IS NULL"
    return fetch_columns(
        [_col(Customer, "id"), _col(Customer, "home_unit"), model_year_sql()],
        rest,
        [],
        CUSTOMER_SCHEMA,
        chunk_on=(Customer, _col(Customer, "id")),
    )


def load_customer_ids(ids: Iterable[int]) -> pl.DataFrame:
    """The unmerged customers among these ids: id, home_unit, model_year."""
    rest = (
        f"FROM {_table(Customer)} WHERE {_col(Customer, 'merged_into')} IS NULL "
        f"AND {_col(Customer, 'id')} IN ({{ids}})"
    )
    return fetch_columns_in(
        [_col(Customer, "id"), _col(Customer, "home_unit"), model_year_sql()],
        rest,
        ids,
        CUSTOMER_SCHEMA,
    )


def load_units() -> pl.DataFrame:
    """id, path and the ids of the unit and its ancestors (`lineage`), for subtree roll-ups."""
    frame = fetch_frame(
        f"SELECT {_col(OrgUnit, 'id')}, {_col(OrgUnit, 'path')} FROM {_table(OrgUnit)}",
        [],
        {"id": pl.Int64, "path": pl.String},
    )
    return frame.with_columns(
        pl.col("path")
        .str.strip_chars("/")
        .str.split("/")
        .list.eval(pl.element().filter(pl.element() != "").cast(pl.Int64))
        .alias("lineage")
    )


RESPONSE_SCHEMA = {
    "id": pl.Int64,
    "survey": pl.Int64,
    "customer": pl.Int64,
    "unit": pl.Int64,
    "channel": pl.String,
    "ts": pl.Int64,
    "touchpoint": pl.Int64,
    "nps_score": pl.Int64,
    "nps_class": pl.String,
    "csat": pl.Int64,
    "ces": pl.Int64,
    "csi_index": pl.Float64,
    "loyalty": pl.Float64,
    "attachment": pl.Float64,
    "tier": pl.String,
}


def _response_columns() -> list[Column]:
    """The columns of _RESPONSE_ORDER."""
    head = [_col(Response, f) for f in ("id", "survey", "customer", "unit", "channel")]
    scores = [
        _col(Response, f)
        for f in ("touchpoint", "nps_score", "nps_class", "csat", "ces", "csi_index", "loyalty",
                  "attachment", "tier")
    ]  # fmt: skip
    return [*head, Epoch(_col(Response, "completed_at")), *scores]


def _response_from() -> str:
    return f"FROM {_table(Response)} WHERE {_col(Response, 'state')} = 'completed'"


def _response_select() -> str:
    return f"SELECT {', '.join(map(_cursor_sql, _response_columns()))} {_response_from()}"


_RESPONSE_ORDER = (
    "id", "survey", "customer", "unit", "channel", "ts", "touchpoint", "nps_score", "nps_class",
    "csat", "ces", "csi_index", "loyalty", "attachment", "tier",
)  # fmt: skip


def _response_schema() -> dict[str, Any]:
    return {k: RESPONSE_SCHEMA[k] for k in _RESPONSE_ORDER}


def load_responses(
    since: dt.datetime | None = None, until: dt.datetime | None = None
) -> pl.DataFrame:
    """Completed responses (optionally completed in [since, until)) with their scores."""
    rest, params = _response_from(), []
    completed = _col(Response, "completed_at")
    if since is not None or until is not None:
        # Naming every survey lets the (survey, state, completed_at) index serve the range.
        surveys = f"SELECT {_col(Survey, 'id')} FROM {_table(Survey)}"
        rest += f" AND {_col(Response, 'survey')} IN ({surveys})"
    if since is not None:
        rest += f" AND {completed} >= %s"
        params.append(connection.ops.adapt_datetimefield_value(since))
    if until is not None:
        rest += f" AND {completed} < %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    chunk = None if since or until else (Response, _col(Response, "id"))
    return fetch_columns(_response_columns(), rest, params, _response_schema(), chunk_on=chunk)


def load_responses_of(customer_ids: Iterable[int]) -> pl.DataFrame:
    """Completed responses of some customers."""
    rest = _response_from() + f" AND {_col(Response, 'customer')} IN ({{ids}})"
    return fetch_columns_in(_response_columns(), rest, customer_ids, _response_schema())


def responses_after(response_id: int, completed_since: dt.datetime | None) -> pl.DataFrame:
    """Responses new since a run: a higher id, or completed since the run started (a response
    started before the run and finished after it keeps its old id)."""
    by_id = fetch_frame(
        _response_select() + f" AND {_col(Response, 'id')} > %s", [response_id], _response_schema()
    )
    if completed_since is None:
        return by_id
    late = load_responses(since=completed_since)
    return pl.concat([by_id, late]).unique("id", keep="first")


def load_answers() -> pl.DataFrame:
    """Numeric answers: response, item (the question's role, else its key), value — the survey
    items the driver analysis tries. Answers of unfinished responses are dropped later, when
    they meet the completed responses."""
    answers = fetch_columns(
        [_col(Answer, "response"), _col(Answer, "question"), _col(Answer, "value_number")],
        f"FROM {_table(Answer)} WHERE {_col(Answer, 'value_number')} IS NOT NULL",
        [],
        {"response": pl.Int64, "question": pl.Int64, "value": pl.Float64},
        chunk_on=(Answer, _col(Answer, "id")),
    )
    role, key = _col(Question, "role"), _col(Question, "key")
    questions = fetch_frame(
        f"SELECT {_col(Question, 'id')}, CASE WHEN {role} <> '' THEN {role} ELSE {key} END "
        f"FROM {_table(Question)}",
        [],
        {"question": pl.Int64, "item": pl.String},
    )
    return answers.join(questions, on="question", how="inner").select("response", "item", "value")


def load_response_touchpoints() -> pl.DataFrame:
    """The touchpoints completed responses are about: id, ts, amount, visit_type, comeback."""
    t, r = _table(Touchpoint), _table(Response)
    ctx = f"t.{_col(Touchpoint, 'context')}"
    real = "DOUBLE PRECISION" if connection.vendor == "postgresql" else "REAL"
    sql = (
        f"SELECT t.{_col(Touchpoint, 'id')}, {epoch('t.' + _col(Touchpoint, 'occurred_at'))}, "
        f"CAST(t.{_col(Touchpoint, 'amount')} AS {real}), {json_text(ctx, 'visit_type')}, "
        f"{json_text(ctx, 'comeback')} FROM {t} t WHERE t.{_col(Touchpoint, 'id')} IN "
        f"(SELECT {_col(Response, 'touchpoint')} FROM {r} WHERE {_col(Response, 'state')} = "
        f"'completed' AND {_col(Response, 'touchpoint')} IS NOT NULL)"
    )
    return fetch_frame(
        sql,
        [],
        {
            "touchpoint": pl.Int64,
            "tp_ts": pl.Int64,
            "amount": pl.Float64,
            "visit_type": pl.String,
            "comeback": pl.String,
        },
    )


def local_day(ts: pl.Expr, tz: zoneinfo.ZoneInfo) -> pl.Expr:
    """Epoch seconds → the local calendar day as days since 1970-01-01."""
    return (
        pl.from_epoch(ts, time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(str(tz))
        .dt.date()
        .cast(pl.Int32)
    )


def local_datetime(ts: pl.Expr, tz: zoneinfo.ZoneInfo) -> pl.Expr:
    return (
        pl.from_epoch(ts, time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(str(tz))
    )


def customers_with_touchpoints_created_since(since: dt.datetime) -> pl.Series:
    """Customers with a touchpoint recorded (created_at) at or after `since` (a table scan)."""
    frame = fetch_frame(
        f"SELECT DISTINCT {_col(Touchpoint, 'customer')} FROM {_table(Touchpoint)} "
        f"WHERE {_col(Touchpoint, 'created_at')} >= %s",
        [connection.ops.adapt_datetimefield_value(since)],
        {"customer": pl.Int64},
    )
    return frame["customer"]


def load_insight_segments(customer_ids: Iterable[int]) -> pl.DataFrame:
    """customer, value_tier, visits_band of stored CustomerInsight rows."""
    frame = fetch_columns_in(
        [_col(CI, "customer"), _col(CI, "value_tier"), _col(CI, "visits_per_year")],
        f"FROM {_table(CI)} WHERE {_col(CI, 'customer')} IN ({{ids}})",
        customer_ids,
        {"customer": pl.Int64, "value_tier": pl.String, "visits_per_year": pl.Float64},
    )
    return frame.select(
        "customer", "value_tier", visits_band(pl.col("visits_per_year")).alias("visits_band")
    )


def load_insight_values(customer_ids: Iterable[int]) -> pl.DataFrame:
    """customer, clv, profit of stored CustomerInsight rows."""
    return fetch_columns_in(
        [_col(CI, "customer"), _col(CI, "clv"), _col(CI, "profit")],
        f"FROM {_table(CI)} WHERE {_col(CI, 'customer')} IN ({{ids}})",
        customer_ids,
        {"customer": pl.Int64, "clv": pl.Float64, "profit": pl.Float64},
    )


def load_insight_segment_rows(customer_ids: Iterable[int]) -> pl.DataFrame:
    """The stored CustomerInsight columns that MatrixSummary and SegmentSummary count, for some
    customers (before they change: their groups are taken out of the stored rows)."""
    texts = ("value_tier", "retention_state", "engagement_tier", "matrix_cell", "nps_class")
    flag = _col(CI, "lock_in_flag")
    frame = fetch_columns_in(
        [
            _col(CI, "home_unit"),
            *(_col(CI, f) for f in texts),
            _col(CI, "visits_per_year"),
            _col(CI, "model_year"),
            f"CASE WHEN {flag} THEN 1 ELSE 0 END",
            *(_col(CI, f) for f in ("clv", "profit", "revenue", "p_alive")),
            _col(CI, "referrals"),
            _col(CI, "referred_customers"),
        ],
        f"FROM {_table(CI)} WHERE {_col(CI, 'customer')} IN ({{ids}})",
        customer_ids,
        {
            "home_unit_id": pl.Int64,
            **dict.fromkeys(texts, pl.String),
            "visits_per_year": pl.Float64,
            "model_year": pl.Int64,
            "lock_in_flag": pl.Int64,
            **dict.fromkeys(("clv", "profit", "revenue", "p_alive"), pl.Float64),
            "referrals": pl.Int64,
            "referred_customers": pl.Int64,
        },
    )
    return frame.with_columns(pl.col(n).fill_null("") for n in texts)


def load_segment_summary() -> pl.DataFrame:
    """Every stored SegmentSummary row, with its id."""
    from rapport.insights.summaries import SEGMENT_KEYS, SEGMENT_SUMS

    floats = {"clv", "profit", "revenue", "p_alive_sum", "low_alive_clv"}
    schema = {
        "id": pl.Int64,
        **{k: (pl.Int64 if k in {"home_unit", "model_year"} else pl.String) for k in SEGMENT_KEYS},
        **{k: (pl.Float64 if k in floats else pl.Int64) for k in SEGMENT_SUMS},
    }
    cols = [_col(SegmentSummary, f) for f in schema]
    frame = fetch_columns(cols, f"FROM {_table(SegmentSummary)}", [], schema)
    return frame.with_columns(
        pl.col(k).fill_null("") for k in SEGMENT_KEYS if k not in {"home_unit", "model_year"}
    )


def load_matrix() -> pl.DataFrame:
    """Every stored MatrixSummary row."""
    names = ("dimension", "key", "retention_state", "engagement_tier", "cell")
    return fetch_frame(
        f"SELECT {', '.join(_col(MatrixSummary, f) for f in names)}, "
        f"{_col(MatrixSummary, 'customers')}, {_col(MatrixSummary, 'lock_in_flagged')}, "
        f"{_col(MatrixSummary, 'clv')}, {_col(MatrixSummary, 'profit')} "
        f"FROM {_table(MatrixSummary)}",
        [],
        {
            **dict.fromkeys(names, pl.String),
            "customers": pl.Int64,
            "lock_in_flagged": pl.Int64,
            "clv": pl.Float64,
            "profit": pl.Float64,
        },
    )


def load_month_cells(start: dt.date, end: dt.date) -> pl.DataFrame:
    """Stored month cells with period_start in [start, end), with their statistics."""
    cols = ", ".join(
        _col(SS, f) for f in ("measure", "dimension", "key", "n", "a", "b", "c", "total", "squares")
    )
    start_col = _col(SS, "period_start")
    frame = fetch_frame(
        f"SELECT {cols}, CAST({start_col} AS TEXT) FROM {_table(SS)} "
        f"WHERE {_col(SS, 'period_kind')} = 'month' AND {start_col} >= %s AND {start_col} < %s",
        [start.isoformat(), end.isoformat()],
        {
            "measure": pl.String,
            "dimension": pl.String,
            "key": pl.String,
            "n": pl.Int64,
            "a": pl.Int64,
            "b": pl.Int64,
            "c": pl.Int64,
            "total": pl.Float64,
            "squares": pl.Float64,
            "period_start": pl.String,
        },
    )
    return frame.with_columns(pl.col("period_start").str.to_date())


# --- writes -------------------------------------------------------------------------------------


def _writable(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and UTC datetimes as the text each database parses; booleans as COPY wants them."""
    pg = connection.vendor == "postgresql"
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Date:
            out.append(col.dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            text = col.dt.convert_time_zone("UTC") if dtype.time_zone else col
            out.append(text.dt.strftime("%Y-%m-%d %H:%M:%S%.6f" + ("+00:00" if pg else "")))
        elif dtype == pl.Boolean and pg:
            out.append(
                pl.when(col).then(pl.lit("t")).when(col.not_()).then(pl.lit("f")).alias(name)
            )
        else:
            out.append(col)
    return frame.select(out)


def write_frame(model, frame: pl.DataFrame) -> int:
    """Insert the rows of a frame whose columns are the model's field attnames."""
    if frame.height == 0:
        return 0
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = [fields[name] for name in frame.columns]
    table = _table(model)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    frame = _writable(frame)
    if connection.vendor == "postgresql":
        sql = f"COPY {table} ({quoted}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for start in range(0, frame.height, CHUNK):
                buffer = io.StringIO()
                frame.slice(start, CHUNK).write_csv(
                    buffer,
                    separator="\t",
                    include_header=False,
                    null_value="\\N",
                    quote_style="never",
                )
                copy.write(buffer.getvalue())
        return frame.height
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the driver's cursor: no per-statement wrapper work
        for start in range(0, frame.height, WRITE_CHUNK):
            raw.executemany(sql.replace("%s", "?"), frame.slice(start, WRITE_CHUNK).iter_rows())
    return frame.height


def replace_all(model, frame: pl.DataFrame) -> int:
    """Replace every row of the model's table with the frame's rows (call inside a transaction).

    PostgreSQL: TRUNCATE, then COPY. SQLite: the table's secondary indexes are dropped, the rows
    deleted, the new ones inserted and the indexes built again — several times faster than
    keeping the indexes up to date row by row. Readers keep seeing the old rows until commit.
    """
    table = _table(model)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")
            return write_frame(model, frame)
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL",
            [model._meta.db_table],
        )
        indexes = cursor.fetchall()
        for name, _sql in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        # After the drops: the DELETE then has only the primary key to keep up (3× cheaper).
        cursor.execute(f"DELETE FROM {table}")
        written = write_frame(model, frame)
        for _name, sql in indexes:
            cursor.execute(sql)
    return written


def delete_where_in(model, field: str, ids: Iterable[int]) -> None:
    """DELETE the model's rows whose `field` is in ids, a chunk of ids per statement."""
    ids = sorted(set(ids))
    column = _col(model, field)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {column} IN ({marks})", chunk)
