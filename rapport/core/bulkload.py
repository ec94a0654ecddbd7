"""Loading many rows into one SQLite table at once: its secondary indexes are built after.

SQLite keeps every index of a table up to date row by row: one B-tree descent per index and row,
five of them for the touchpoint table. When an import brings at least as many rows as the table
holds, dropping the table's non-unique indexes, inserting, and building them again with
`CREATE INDEX` (one sort per index over the whole table) is about twice as fast. All of it
happens inside the import's one transaction: SQLite's schema changes are transactional, so a
failure, a rollback or a killed process leaves the indexes exactly as they were, and readers of
the WAL database keep seeing the committed table with its indexes until the commit. Unique
indexes stay, because `ON CONFLICT DO NOTHING` (a re-run of the same file) needs them.

Plain DB-API: no ORM, so batch jobs and the import share it.

Building an index sorts the whole table. SQLite's sorter keeps about a page cache's worth in
memory and spills the rest to temporary files, which Rapport's connections keep in memory
(`temp_store=MEMORY`, for the pages' small sorts): a 5M-row rebuild would hold every index
entry in the process. So a big load sorts on disk (`sorting_on_disk`), i.e. in the OS's file
cache, not in the importing process.

Rows go in many to a statement (`insert_grouped`): SQLite pays a statement's fixed cost — and,
for a table with an AUTOINCREMENT key (Django's on SQLite), a read and a write of its counter in
sqlite_sequence — per executed statement, so a hundred rows a statement cost about a third less
than one.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection

# Rows per multi-row INSERT (fewer when a row has many columns: SQLite binds at most
# SQLITE_MAX_PARAMS values a statement, the default limit since SQLite 3.32).
ROWS_PER_STATEMENT = 100
SQLITE_MAX_PARAMS = 32_766
# Below this many incoming rows the rebuild's fixed cost is not worth it.
MIN_ROWS = 20_000
# A touchpoint CSV row is about 90–150 bytes; guessing few bytes a row means guessing many rows,
# so this errs towards rebuilding, which costs at most a sort of the table once.
BYTES_PER_ROW_GUESS = 100
# The page cache while indexes are built (negative: KiB), which bounds the sorter's memory; an
# index of a few hundred thousand rows still sorts in memory in one pass.
SORT_CACHE_KIB = -16384


def worth_rebuilding(incoming: int, existing: int) -> bool:
    """Whether building the indexes after the insert beats maintaining them row by row: a
    rebuild sorts the whole table (existing + incoming rows), so it pays when the import
    brings at least as many rows as the table already holds."""
    return incoming >= MIN_ROWS and incoming >= existing


def table_size_estimate(cursor: Any, table: str) -> int:
    """The table's largest rowid: its row count, or more after deletes (which only makes
    `worth_rebuilding` more careful). One B-tree descent, where COUNT(*) would read every row."""
    cursor.execute(f'SELECT max(rowid) FROM "{table}"')  # noqa: S608 - a table name of ours
    (largest,) = cursor.fetchone()
    return int(largest or 0)


def drop_secondary_indexes(cursor: Any, table: str) -> list[str]:
    """Drop the table's non-unique indexes (explicitly created ones: automatic and unique
    indexes stay); returns the statements that create them again, in creation order.

    Call inside a transaction, and pass what it returns to `create_indexes` before the commit.
    """
    cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL ORDER BY rowid",
        [table],
    )
    indexes = [(name, sql) for name, sql in cursor.fetchall() if not _is_unique(sql)]
    for name, _sql in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in indexes]


def create_indexes(cursor: Any, statements: list[str]) -> None:
    """Run the CREATE INDEX statements `drop_secondary_indexes` returned, with a small page
    cache: SQLite's sorter holds up to a page cache's worth of entries in memory before it
    spills to temporary files, and the pages the insert cached are not needed any more."""
    cursor.execute("PRAGMA cache_size")
    (before,) = cursor.fetchone()
    cursor.execute(f"PRAGMA cache_size = {SORT_CACHE_KIB}")
    try:
        for sql in statements:
            cursor.execute(sql)
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(before)}")


def _is_unique(sql: str) -> bool:
    return sql.lstrip()[:13].upper().replace("  ", " ").startswith("CREATE UNIQUE")


@contextlib.contextmanager
def sorting_on_disk(incoming: int) -> Iterator[None]:
    """SQLite temporary files on disk while a load of `incoming` rows may rebuild indexes (see
    the module's docstring); memory again after. Set outside any transaction: SQLite refuses
    to change it inside one."""
    change = (
        incoming >= MIN_ROWS and connection.vendor == "sqlite" and not connection.in_atomic_block
    )
    if not change:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA temp_store = FILE")
    try:
        yield
    finally:
        if not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA temp_store = MEMORY")


def insert_grouped(
    raw: Any, head: str, row: str, tail: str, rows: Sequence[Sequence[Any]], width: int
) -> int:
    """Run `{head} VALUES {row}, {row}, … {tail}` over `rows` (of `width` values each) on a
    sqlite3 connection, ROWS_PER_STATEMENT rows a statement and the remainder one by one, in
    the rows' order (so with `ON CONFLICT DO NOTHING` the first of two repeats wins); returns
    the rows changed. The values are regrouped at C speed: zip over one iterator takes n at a
    time."""
    per = max(1, min(ROWS_PER_STATEMENT, SQLITE_MAX_PARAMS // max(width, 1)))
    whole = len(rows) - len(rows) % per
    values = iter(itertools.chain.from_iterable(rows[:whole]))
    changed = 0
    for sql, params in (
        (
            f"{head} VALUES {', '.join([row] * per)}{tail}",
            zip(*[values] * (per * width), strict=True),
        ),
        (f"{head} VALUES {row}{tail}", rows[whole:]),
    ):
        cursor = raw.executemany(sql, params)
        changed += max(cursor.rowcount, 0)
        cursor.close()
    return changed


# Allocations between two collections of Python's youngest generation during a bulk load.
GC_THRESHOLD = 100_000


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Fewer cyclic garbage collections while a load makes millions of short-lived rows.

    A row tuple is freed by its reference count, never by the collector, yet every 700 of them
    trigger a collection that also walks what start-up made (Django's modules and models): a
    tenth of an import's time. What exists now is frozen out of the collector's sight and the
    youngest generation is collected every GC_THRESHOLD allocations; both are undone after. A
    forked reader process inherits the setting.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
