"""Columnar reads and bulk writes between the database and polars, for the insights job.

One SQL query per table (per chunk of ids for incremental loads), read through the database
cursor `CHUNK` rows at a time — a server-side cursor on PostgreSQL, so 20M touchpoints never sit
in client memory as Python rows — and turned into typed polars columns chunk by chunk. Times come
out of SQL as epoch seconds (integers are cheap to move). Works on SQLite and PostgreSQL. Writes
use COPY on PostgreSQL and executemany on SQLite. What the job reads with these is in
rapport.insights.loads.

No ORM objects: the model classes are used only for their table and column names (_table, _col:
shared with rapport.insights.loads).
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connection

from rapport.core.bulkload import insert_grouped

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
    marks = "(" + ", ".join(["?"] * len(columns)) + ")"
    connection.ensure_connection()
    with connection.wrap_database_errors:  # the driver's connection: no per-row wrapper work
        for start in range(0, frame.height, WRITE_CHUNK):
            rows = frame.slice(start, WRITE_CHUNK).rows()
            insert_grouped(
                connection.connection,
                f"INSERT INTO {table} ({quoted})",
                marks,
                "",
                rows,
                len(columns),
            )
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
