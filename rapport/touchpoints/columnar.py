"""Touchpoint rows from a Block of CSV columns, checked a column at a time (polars).

rapport.touchpoints.records validates one record at a time, about 17 µs a row in Python. Most
rows of a big export are plain, though: an external id, a known customer's id, an ISO 8601 time
with its offset, a known kind, unit and staff code, a money amount in its strict form. This
module accepts exactly those rows — each check here is at least as strict as the record
parser's, so a row it accepts is one the parser would accept with the same values — and returns
every other row as a record for the parser, which then says what is wrong with it or handles
what it has (an e-mail to match on, a naive time, a new customer, a JSON context).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from rapport.core.ingestion import LINE_KEY, Block
from rapport.touchpoints.kinds import CHANNELS
from rapport.touchpoints.records import CONTEXT_PREFIX, EARLIEST, Lookups

# An id as the parser keeps it: no white space at either end (Python's str.strip also strips
# the separators \x1c-\x1f), at most 200 characters.
_PADDED = r"^[\s\x1c-\x1f]|[\s\x1c-\x1f]$"
# ISO 8601 with seconds and an offset, every part in range except the day of the month, which
# the parse below checks (it gives null for 2024-02-30).
_TIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
# The strict money form the parser takes as it is (no leading zeros, at most 2 decimals).
_MONEY = r"^-?(0|[1-9]\d{0,11})(\.\d{1,2})?$"
_CURRENCY = r"^[A-Z]{3}$"
# Columns a plain row leaves empty: the parser matches on or checks them (customer_name only
# names a new customer, but the parser still validates it).
_MUST_BE_EMPTY = ("customer_email", "customer_phone", "customer_name", "context")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def split_block(
    block: Block,
    lookups: Lookups,
    known: Mapping[str, int] | pl.DataFrame,
    live_after: Any = None,
) -> tuple[pl.DataFrame, list[tuple[int, dict[str, Any]]]]:
    """(plain, others): the plain rows as a frame of their insert columns (see `rows`) with
    each one's position in the block (`_pos`); and (position, record) of every other row, for
    the record parser. `known`: external id → customer id of the identities known now (or that
    map as a frame, see `known_frame`); `live_after`: rows at or after this time need the parser
    too (they carry events). Times and amounts come formatted as Django's SQLite backend stores
    them. A frame rather than rows, because it crosses from the reader process to the writer
    far cheaper than row tuples do (Arrow buffers, not an object per value)."""
    frame = block.frame
    names = frame.columns
    n = frame.height
    empty = pl.lit("")

    def column(name: str) -> pl.Expr:
        return pl.col(name) if name in names else empty

    units = {code: pk for code, (pk, _tz) in lookups.units.items()}
    known_map = known if isinstance(known, pl.DataFrame) else known_frame(known)
    ok = [
        column("external_id").str.len_chars().is_between(1, 200),
        ~column("external_id").str.contains(_PADDED),
        column("customer_external_id").str.len_chars().is_between(1, 200),
        ~column("customer_external_id").str.contains(_PADDED),
        column("occurred_at").str.contains(_TIME),
        column("kind").is_in(list(lookups.kinds)),
        column("channel").is_in(["", *CHANNELS]),
        (column("unit") == "") | column("unit").is_in(list(units)),
        (column("staff") == "") | column("staff").is_in(list(lookups.staff)),
        (column("amount") == "") | column("amount").str.contains(_MONEY),
        (column("margin") == "") | column("margin").str.contains(_MONEY),
        column("currency").str.contains(_CURRENCY)
        | ((column("currency") == "") & (column("amount") == "") & (column("margin") == "")),
        *[column(name) == "" for name in _MUST_BE_EMPTY],
        *[pl.col(name) == "" for name in names if name == CONTEXT_PREFIX],  # unnamed: an error
    ]
    when = (
        column("occurred_at")
        .str.replace(r"Z$", "+00:00")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC", strict=False)
    )
    checked = (
        frame.lazy()
        .with_columns(
            _ok=pl.all_horizontal(ok),
            _when=when,
            _unit=column("unit").replace_strict(units, default=None, return_dtype=pl.Int64),
            _staff=column("staff").replace_strict(
                dict(lookups.staff), default=None, return_dtype=pl.Int64
            ),
            _pos=pl.int_range(n, dtype=pl.Int64),
        )
        .join(
            known_map.lazy(),
            left_on=column("customer_external_id"),
            right_on="ext",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            _ok=pl.col("_ok")
            & pl.col("_when").is_not_null()
            & (pl.col("_when") >= EARLIEST)
            & (pl.col("_when") <= lookups.latest)
            & pl.col("customer").is_not_null()
            & (True if live_after is None else pl.col("_when") < live_after)
        )
        .collect()
    )
    good = _shaped(checked.filter(pl.col("_ok")), names)
    if good.height == n:
        return good, []
    others = frame.with_columns(_line=block.lines, _pos=pl.int_range(n, dtype=pl.Int64)).filter(
        ~checked.get_column("_ok")
    )
    records = []
    for values in others.iter_rows():
        record = dict(zip(names, values[:-2], strict=True))
        record[LINE_KEY] = values[-2]
        records.append((values[-1], record))
    return good, records


def rows(plain: pl.DataFrame, head: tuple[Any, Any]) -> list[tuple[Any, ...]]:
    """The insert rows (rapport.touchpoints.ingest.COLUMNS order) of `split_block`'s plain
    rows; `head`: the source id and created_at, the same for every row."""
    columns = [plain.to_series(i).to_list() for i in range(plain.width - 1)]  # not _pos
    customer, *rest = columns
    source, created = head
    n = plain.height
    return list(zip(customer, [source] * n, [created] * n, *rest, strict=True))


def positions(plain: pl.DataFrame) -> list[int]:
    return plain.get_column("_pos").to_list()  # type: ignore[no-any-return]


def known_frame(known: Mapping[str, int]) -> pl.DataFrame:
    """A map of external id → customer id as a frame to join on (build once, reuse per block)."""
    return pl.DataFrame(
        {"ext": list(known), "customer": list(known.values())},
        schema={"ext": pl.String, "customer": pl.Int64},
    )


def _shaped(good: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Rows that passed, as their insert columns after the head (see `rows`), and `_pos`."""
    contexts = [name for name in names if name.startswith(CONTEXT_PREFIX)]
    money = {
        name: pl.when(pl.col(name) == "")
        .then(None)
        .when(pl.col(name).str.contains(r"\.\d\d$"))
        .then(pl.col(name))
        .when(pl.col(name).str.contains(r"\.\d$"))
        .then(pl.col(name) + "0")
        .otherwise(pl.col(name) + ".00")
        for name in ("amount", "margin")
        if name in names
    }
    if contexts:
        values = [good.get_column(name).to_list() for name in contexts]
        context = pl.Series(_contexts(values, contexts), dtype=pl.String)
    else:
        context = pl.repeat("{}", good.height, dtype=pl.String, eager=True)
    return good.select(
        pl.col("customer"),
        pl.col("_when").dt.strftime("%Y-%m-%d %H:%M:%S").alias("occurred_at"),
        (pl.col("channel").replace("", "other") if "channel" in names else pl.lit("other")),
        pl.col("kind"),
        pl.col("external_id"),
        pl.col("_unit"),
        pl.col("_staff"),
        money.get("amount", pl.lit(None, dtype=pl.String)).alias("amount"),
        money.get("margin", pl.lit(None, dtype=pl.String)).alias("margin"),
        (pl.col("currency") if "currency" in names else pl.lit("")).alias("currency"),
        context.alias("context"),
        pl.col("_pos"),
    )


def _contexts(values: list[list[str]], columns: list[str]) -> list[str]:
    """Each row's context as the parser would encode it: its non-empty context columns, in
    column order; the few distinct combinations of a big file are encoded once."""
    keys = [column[len(CONTEXT_PREFIX) :] for column in columns]
    encoded: dict[tuple[str, ...], str] = {}
    encode: Callable[[Any], str] = _JSON.encode
    out = []
    for row in zip(*values, strict=True):
        text = encoded.get(row)
        if text is None:
            text = encode({k: v for k, v in zip(keys, row, strict=True) if v != ""})
            if len(encoded) < 10_000:
                encoded[row] = text
        out.append(text)
    return out
