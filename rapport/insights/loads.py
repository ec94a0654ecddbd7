"""What the insights job reads: touchpoints with their money, referrals, customers and their
registered attributes, units, responses and answers, and the job's own stored rows that an
incremental run changes — each a columnar load (rapport.insights.frames) of one SQL query.

Local days are computed in polars; JSON context fields are extracted in SQL with each vendor's
JSON function.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from django.db import connection

from rapport.customers.models import AttributeDefinition, Customer, CustomerIdentity, SourceSystem
from rapport.insights.facts import visits_band
from rapport.insights.frames import (
    Code,
    Column,
    Epoch,
    Money,
    _col,
    _table,
    epoch,
    fetch_column_chunks,
    fetch_columns,
    fetch_columns_in,
    fetch_frame,
    json_text,
)
from rapport.insights.models import (
    CustomerAttributeValue,
    MatrixSummary,
    ReferralLink,
    SegmentSummary,
)
from rapport.insights.models import CustomerInsight as CI
from rapport.insights.models import ScoreSummary as SS
from rapport.org.models import OrgUnit
from rapport.surveys.models import Answer, Question, Response, Survey
from rapport.touchpoints.models import Touchpoint


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
    "touchpoint": pl.Int64,
    "customer": pl.Int64,
    "ts": pl.Int64,
    "referred_ref": pl.String,
    "identity": pl.Int64,
}
REFERRAL_COLUMNS = ["touchpoint", "customer", "ts", "referred"]


def _referrals(condition: str = "", params: Sequence[Any] = ()) -> pl.DataFrame:
    """Referral touchpoints (all, or those meeting an extra SQL condition on `t`): touchpoint,
    customer (the referrer), ts and the friend as resolved `referred`.

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
        f"SELECT t.{_col(Touchpoint, 'id')}, t.{_col(Touchpoint, 'customer')}, {occurred}, "
        f"{friend}, {identity} FROM {_table(Touchpoint)} t "
        f"WHERE t.{_col(Touchpoint, 'kind')} = %s {condition}"
    )
    refs = fetch_frame(sql, ["referral", *params], REFERRAL_SCHEMA)
    digits = refs.filter(
        pl.col("identity").is_null() & pl.col("referred_ref").str.contains(r"^\d+$")
    )
    numbers = digits["referred_ref"].cast(pl.Int64).unique().to_list()
    known = load_customer_ids(numbers)["id"] if numbers else pl.Series([], dtype=pl.Int64)
    numeric = pl.col("referred_ref").cast(pl.Int64, strict=False)
    return refs.select(
        "touchpoint",
        "customer",
        "ts",
        pl.coalesce("identity", pl.when(numeric.is_in(known.implode())).then(numeric)).alias(
            "referred"
        ),
    )


def load_referrals() -> pl.DataFrame:
    """Every referral touchpoint, its friend resolved (the full run's read)."""
    return _referrals()


def load_referrals_between(low: int, high: int) -> pl.DataFrame:
    """Referral touchpoints with low < id <= high (those recorded since the last run)."""
    return _referrals(
        f"AND t.{_col(Touchpoint, 'id')} > %s AND t.{_col(Touchpoint, 'id')} <= %s", [low, high]
    )


def load_referral_links() -> pl.DataFrame:
    """The stored links (ReferralLink) as the referral frame: touchpoint, customer, ts,
    referred — one plain read, no JSON and no identity look-up."""
    link = _table(ReferralLink)
    frame = fetch_frame(
        f"SELECT {_col(ReferralLink, 'touchpoint_id')}, {_col(ReferralLink, 'referrer')}, "
        f"{_col(ReferralLink, 'ts')}, {_col(ReferralLink, 'referred')} FROM {link}",
        [],
        {name: pl.Int64 for name in REFERRAL_COLUMNS},
    )
    return frame


def load_referrals_to_resolve_again() -> tuple[pl.Series, pl.DataFrame]:
    """Stored links that may resolve differently now: their touchpoint ids, and those of them
    whose touchpoint still exists resolved afresh. They are the links whose friend was unknown
    (who may have become a customer since) and those whose referrer or friend has been merged
    into another customer (the touchpoint and the identities moved with the merge)."""
    link, customer = _table(ReferralLink), _table(Customer)
    merged = (
        f"SELECT {_col(Customer, 'id')} FROM {customer} "
        f"WHERE {_col(Customer, 'merged_into')} IS NOT NULL"
    )
    referred, referrer = _col(ReferralLink, "referred"), _col(ReferralLink, "referrer")
    stale = (
        f"SELECT {_col(ReferralLink, 'touchpoint_id')} FROM {link} WHERE {referred} IS NULL "
        f"OR {referrer} IN ({merged}) OR {referred} IN ({merged})"
    )
    ids = fetch_frame(stale, [], {"touchpoint": pl.Int64})["touchpoint"]
    if ids.is_empty():
        return ids, _referrals("AND 1 = 0")
    return ids, _referrals(f"AND t.{_col(Touchpoint, 'id')} IN ({stale})")


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


ATTRIBUTE_SCHEMA = {"customer_id": pl.Int64, "attribute": pl.String, "value": pl.String}
ATTRIBUTE_VALUE_LENGTH = 200  # CustomerAttributeValue.value


def attribute_sql(name: str) -> str:
    """SQL for a customer attribute as comparable text: a string as it is, a number as its
    text, a boolean as true/false; NULL when absent, null, a list or an object."""
    attrs = _col(Customer, "attributes")
    safe = name.replace("'", "''").replace('"', "")
    if connection.vendor == "postgresql":
        kind = f"jsonb_typeof({attrs} -> '{safe}')"
        return f"CASE WHEN {kind} IN ('string', 'number', 'boolean') THEN {attrs} ->> '{safe}' END"
    path = f"'$.\"{safe}\"'"
    kind = f"json_type({attrs}, {path})"
    value = f"json_extract({attrs}, {path})"
    return (
        f"CASE {kind} WHEN 'text' THEN {value} WHEN 'integer' THEN CAST({value} AS TEXT) "
        f"WHEN 'real' THEN CAST({value} AS TEXT) WHEN 'true' THEN 'true' "
        f"WHEN 'false' THEN 'false' END"
    )


def _long_attributes(wide: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    if not names or wide.height == 0:
        return pl.DataFrame(schema=ATTRIBUTE_SCHEMA)
    return (
        wide.unpivot(index="customer_id", variable_name="attribute", value_name="value")
        .drop_nulls("value")
        .with_columns(
            pl.col("attribute").replace_strict({f"a{i}": n for i, n in enumerate(names)}),
            pl.col("value").str.slice(0, ATTRIBUTE_VALUE_LENGTH),
        )
        .select(list(ATTRIBUTE_SCHEMA))
    )


def load_attribute_values(ids: Iterable[int] | None = None) -> pl.DataFrame:
    """customer_id, attribute, value of every registered attribute (AttributeDefinition) that
    an unmerged customer has (or of these customers'): one pass over the customers."""
    names = list(AttributeDefinition.objects.order_by("name").values_list("name", flat=True))
    if not names:
        return pl.DataFrame(schema=ATTRIBUTE_SCHEMA)
    select = [_col(Customer, "id"), *(attribute_sql(n) for n in names)]
    schema = {"customer_id": pl.Int64, **{f"a{i}": pl.String for i in range(len(names))}}
    rest = f"FROM {_table(Customer)} WHERE {_col(Customer, 'merged_into')} IS NULL"
    if ids is None:
        wide = fetch_columns(select, rest, [], schema, chunk_on=(Customer, _col(Customer, "id")))
    else:
        rest += f" AND {_col(Customer, 'id')} IN ({{ids}})"
        wide = fetch_columns_in(select, rest, ids, schema)
    return _long_attributes(wide, names)


def load_stored_attribute_values(customer_ids: Iterable[int]) -> pl.DataFrame:
    """customer_id, attribute, value of stored CustomerAttributeValue rows (the values the
    last run counted these customers under)."""
    CAV = CustomerAttributeValue
    return fetch_columns_in(
        [_col(CAV, "insight"), _col(CAV, "attribute"), _col(CAV, "value")],
        f"FROM {_table(CAV)} WHERE {_col(CAV, 'insight')} IN ({{ids}})",
        customer_ids,
        ATTRIBUTE_SCHEMA,
    )


def load_summarized_values() -> pl.DataFrame:
    """attribute, attribute_value of the attribute slices SegmentSummary holds."""
    S = SegmentSummary
    return fetch_frame(
        f"SELECT DISTINCT {_col(S, 'attribute')}, {_col(S, 'attribute_value')} "
        f"FROM {_table(S)} WHERE {_col(S, 'attribute')} <> ''",
        [],
        {"attribute": pl.String, "attribute_value": pl.String},
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
            _col(CI, "customer"),
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
            "customer_id": pl.Int64,
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
