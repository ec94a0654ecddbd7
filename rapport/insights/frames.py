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
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from django.db import connection

from rapport.customers.models import Customer, CustomerIdentity
from rapport.insights.facts import visits_band
from rapport.insights.models import CustomerInsight as CI
from rapport.insights.models import ScoreSummary as SS
from rapport.org.models import OrgUnit
from rapport.surveys.models import Answer, Question, Response, Survey
from rapport.touchpoints.models import Touchpoint

CHUNK = 200_000
ID_CHUNK = 900  # ids per IN (...) list: below SQLite's host-parameter limit everywhere


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _col(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def epoch(column: str) -> str:
    """SQL for a timestamp column as whole epoch seconds (UTC)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
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


def fetch_in_chunks(
    sql_template: str, ids: Iterable[int], schema: dict[str, Any], extra: Sequence[Any] = ()
) -> pl.DataFrame:
    """`sql_template` has one `{ids}` placeholder for an IN list; run it per chunk of ids."""
    ids = sorted(set(ids))
    parts = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ",".join(["%s"] * len(chunk))
        parts.append(fetch_frame(sql_template.format(ids=marks), [*extra, *chunk], schema))
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical", rechunk=True)


# --- loads --------------------------------------------------------------------------------------

TOUCHPOINT_SCHEMA = {
    "id": pl.Int64,
    "customer": pl.Int64,
    "ts": pl.Int64,
    "kind": pl.String,
    "unit": pl.Int64,
    "amount": pl.Float64,
    "margin": pl.Float64,
}


def _touchpoint_select(where: str) -> str:
    t = _table(Touchpoint)
    return (
        f"SELECT {_col(Touchpoint, 'id')}, {_col(Touchpoint, 'customer')}, "
        f"{epoch(_col(Touchpoint, 'occurred_at'))}, {_col(Touchpoint, 'kind')}, "
        f"{_col(Touchpoint, 'unit')}, CAST({_col(Touchpoint, 'amount')} AS REAL), "
        f"CAST({_col(Touchpoint, 'margin')} AS REAL) FROM {t} WHERE {where}"
    ).replace("AS REAL", "AS DOUBLE PRECISION" if connection.vendor == "postgresql" else "AS REAL")


def load_touchpoints(kinds: Sequence[str]) -> pl.DataFrame:
    """Every touchpoint of these kinds: id, customer, ts (epoch s), kind, unit, amount, margin."""
    marks = ",".join(["%s"] * len(kinds))
    sql = _touchpoint_select(f"{_col(Touchpoint, 'kind')} IN ({marks})")
    return fetch_frame(sql, list(kinds), TOUCHPOINT_SCHEMA)


def load_touchpoints_of(customer_ids: Iterable[int], kinds: Sequence[str]) -> pl.DataFrame:
    """The touchpoints of these kinds of some customers (the incremental run's load)."""
    marks = ",".join(["%s"] * len(kinds))
    sql = _touchpoint_select(
        f"{_col(Touchpoint, 'kind')} IN ({marks}) AND {_col(Touchpoint, 'customer')} IN ({{ids}})"
    )
    return fetch_in_chunks(sql, customer_ids, TOUCHPOINT_SCHEMA, extra=list(kinds))


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


REFERRAL_SCHEMA = {"customer": pl.Int64, "ts": pl.Int64, "referred_ref": pl.String}


def load_referrals() -> pl.DataFrame:
    """Referral touchpoints: customer (the referrer), ts and the friend as resolved `referred`.

    The friend in context `referred_customer` is an external id in some source system (looked
    up per source, so the unique (source, external_id) index serves it) or a Rapport customer
    id; an unknown friend stays null (recorded, not yet a customer).
    """
    ctx = _col(Touchpoint, "context")
    sql = (
        f"SELECT {_col(Touchpoint, 'customer')}, {epoch(_col(Touchpoint, 'occurred_at'))}, "
        f"{json_text(ctx, 'referred_customer')} FROM {_table(Touchpoint)} "
        f"WHERE {_col(Touchpoint, 'kind')} = %s"
    )
    refs = fetch_frame(sql, ["referral"], REFERRAL_SCHEMA)
    wanted = refs["referred_ref"].drop_nulls().unique().to_list()
    found = _identities(wanted)
    numeric = pl.DataFrame(
        {"referred_ref": [w for w in wanted if w.isdigit()]}, schema={"referred_ref": pl.String}
    ).with_columns(pl.col("referred_ref").cast(pl.Int64).alias("numeric"))
    known = set(
        load_customer_ids(numeric["numeric"].to_list())["id"].to_list() if numeric.height else []
    )
    numeric = numeric.filter(pl.col("numeric").is_in(list(known)))
    return (
        refs.join(found, on="referred_ref", how="left")
        .join(numeric, on="referred_ref", how="left")
        .select(
            "customer",
            "ts",
            pl.coalesce("identity", "numeric").alias("referred"),
        )
    )


def _identities(external_ids: list[str]) -> pl.DataFrame:
    """external id → customer (the lowest customer id when several sources share the id)."""
    schema = {"referred_ref": pl.String, "identity": pl.Int64}
    if not external_ids:
        return pl.DataFrame(schema=schema)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_col(CustomerIdentity, 'source')} FROM {_table(CustomerIdentity)}"
            f" GROUP BY {_col(CustomerIdentity, 'source')}"
        )
        sources = [row[0] for row in cursor.fetchall()]
    parts = []
    for source in sources:
        for start in range(0, len(external_ids), ID_CHUNK):
            chunk = external_ids[start : start + ID_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            parts.append(
                fetch_frame(
                    f"SELECT {_col(CustomerIdentity, 'external_id')}, "
                    f"{_col(CustomerIdentity, 'customer')} FROM {_table(CustomerIdentity)} "
                    f"WHERE {_col(CustomerIdentity, 'source')} = %s "
                    f"AND {_col(CustomerIdentity, 'external_id')} IN ({marks})",
                    [source, *chunk],
                    schema,
                )
            )
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).group_by("referred_ref").agg(pl.col("identity").min())


CUSTOMER_SCHEMA = {"id": pl.Int64, "home_unit": pl.Int64}


def load_customers() -> pl.DataFrame:
    """Every customer not merged into another: id, home_unit."""
    c = _table(Customer)
    return fetch_frame(
        f"SELECT {_col(Customer, 'id')}, {_col(Customer, 'home_unit')} FROM {c} "
        f"WHERE {_col(Customer, 'merged_into')} IS NULL",
        [],
        CUSTOMER_SCHEMA,
    )


def load_customer_ids(ids: Iterable[int]) -> pl.DataFrame:
    """The unmerged customers among these ids: id, home_unit."""
    return fetch_in_chunks(
        f"SELECT {_col(Customer, 'id')}, {_col(Customer, 'home_unit')} FROM {_table(Customer)} "
        f"WHERE {_col(Customer, 'merged_into')} IS NULL AND {_col(Customer, 'id')} IN ({{ids}})",
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


def _response_select() -> str:
    r = _table(Response)
    cols = ", ".join(_col(Response, f) for f in ("id", "customer", "unit", "channel"))
    scores = ", ".join(
        _col(Response, f)
        for f in (
            "touchpoint",
            "nps_score",
            "nps_class",
            "csat",
            "ces",
            "csi_index",
            "loyalty",
            "attachment",
            "tier",
        )
    )
    return (
        f"SELECT {cols}, {epoch(_col(Response, 'completed_at'))}, {scores} FROM {r} "
        f"WHERE {_col(Response, 'state')} = 'completed'"
    )


_RESPONSE_ORDER = (
    "id", "customer", "unit", "channel", "ts", "touchpoint", "nps_score", "nps_class", "csat",
    "ces", "csi_index", "loyalty", "attachment", "tier",
)  # fmt: skip


def _response_schema() -> dict[str, Any]:
    return {k: RESPONSE_SCHEMA[k] for k in _RESPONSE_ORDER}


def load_responses(
    since: dt.datetime | None = None, until: dt.datetime | None = None
) -> pl.DataFrame:
    """Completed responses (optionally completed in [since, until)) with their scores."""
    sql, params = _response_select(), []
    completed = _col(Response, "completed_at")
    if since is not None or until is not None:
        # Naming every survey lets the (survey, state, completed_at) index serve the range.
        surveys = f"SELECT {_col(Survey, 'id')} FROM {_table(Survey)}"
        sql += f" AND {_col(Response, 'survey')} IN ({surveys})"
    if since is not None:
        sql += f" AND {completed} >= %s"
        params.append(connection.ops.adapt_datetimefield_value(since))
    if until is not None:
        sql += f" AND {completed} < %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    return fetch_frame(sql, params, _response_schema())


def load_responses_of(customer_ids: Iterable[int]) -> pl.DataFrame:
    """Completed responses of some customers."""
    sql = _response_select() + f" AND {_col(Response, 'customer')} IN ({{ids}})"
    return fetch_in_chunks(sql, customer_ids, _response_schema())


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
    """Numeric answers of completed responses: response, item (question role, else its key),
    value — the survey items the driver analysis tries."""
    a, q, r = _table(Answer), _table(Question), _table(Response)
    role, key = f"q.{_col(Question, 'role')}", f"q.{_col(Question, 'key')}"
    sql = (
        f"SELECT a.{_col(Answer, 'response')}, CASE WHEN {role} <> '' THEN {role} ELSE {key} END, "
        f"a.{_col(Answer, 'value_number')} FROM {a} a "
        f"JOIN {q} q ON q.{_col(Question, 'id')} = a.{_col(Answer, 'question')} "
        f"JOIN {r} r ON r.{_col(Response, 'id')} = a.{_col(Answer, 'response')} "
        f"WHERE a.{_col(Answer, 'value_number')} IS NOT NULL "
        f"AND r.{_col(Response, 'state')} = 'completed'"
    )
    return fetch_frame(sql, [], {"response": pl.Int64, "item": pl.String, "value": pl.Float64})


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
    frame = fetch_in_chunks(
        f"SELECT {_col(CI, 'customer')}, {_col(CI, 'value_tier')}, {_col(CI, 'visits_per_year')} "
        f"FROM {_table(CI)} WHERE {_col(CI, 'customer')} IN ({{ids}})",
        customer_ids,
        {"customer": pl.Int64, "value_tier": pl.String, "visits_per_year": pl.Float64},
    )
    return frame.select(
        "customer", "value_tier", visits_band(pl.col("visits_per_year")).alias("visits_band")
    )


def load_insight_values(customer_ids: Iterable[int]) -> pl.DataFrame:
    """customer, clv, profit of stored CustomerInsight rows."""
    return fetch_in_chunks(
        f"SELECT {_col(CI, 'customer')}, {_col(CI, 'clv')}, {_col(CI, 'profit')} "
        f"FROM {_table(CI)} WHERE {_col(CI, 'customer')} IN ({{ids}})",
        customer_ids,
        {"customer": pl.Int64, "clv": pl.Float64, "profit": pl.Float64},
    )


def group_insights() -> pl.DataFrame:
    """CustomerInsight grouped as rapport.insights.summaries.group_customers groups facts."""
    keys = ", ".join(
        _col(CI, f)
        for f in ("home_unit", "value_tier", "retention_state", "engagement_tier", "matrix_cell")
    )
    flag = _col(CI, "lock_in_flag")
    return fetch_frame(
        f"SELECT {keys}, COUNT(*), SUM(CASE WHEN {flag} THEN 1 ELSE 0 END), "
        f"SUM({_col(CI, 'clv')}), SUM({_col(CI, 'profit')}) FROM {_table(CI)} GROUP BY {keys}",
        [],
        {
            "home_unit": pl.Int64,
            "value_tier": pl.String,
            "retention_state": pl.String,
            "engagement_tier": pl.String,
            "matrix_cell": pl.String,
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
        for start in range(0, frame.height, CHUNK):
            cursor.executemany(sql, frame.slice(start, CHUNK).rows())
    return frame.height


def delete_where_in(model, field: str, ids: Iterable[int]) -> None:
    """DELETE the model's rows whose `field` is in ids, a chunk of ids per statement."""
    ids = sorted(set(ids))
    column = _col(model, field)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {column} IN ({marks})", chunk)
