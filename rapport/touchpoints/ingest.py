"""Writing touchpoints: the one path the import command, the API and the demo generator call.

Built for tens of millions of rows: a reader thread validates the next batch
(rapport.touchpoints.records, against lookups loaded once) and formats its rows while this thread
writes the current one; customers are resolved per batch with one IN query per key, for ids not
seen in an earlier batch of the same transaction (rapport.customers.ingest.resolve_batch); new
customers and identities go in by plain SQL; and rows go in with one `executemany`
`INSERT ... ON CONFLICT (source_id, external_id) DO NOTHING` per batch (straight through the
sqlite3 driver on SQLite) — no ORM object per row. Sending a record again is therefore a no-op,
counted as a duplicate.

When outcomes are wanted (the API), or a webhook/in-process handler listens for
"touchpoint.created", rows go in with multi-row `INSERT ... RETURNING` instead, so that each
created touchpoint's id is known; the events are emitted in the same transaction.
Transactions per mode: see rapport.customers.ingest.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.utils import timezone

from rapport.core import bulkload, events
from rapport.core.ingestion import (
    Block,
    IngestReport,
    Outcome,
    Problem,
    RejectHook,
    Tally,
    check_mode,
    line_of,
    read_error,
)
from rapport.customers.ingest import (
    KnownIdentities,
    Ref,
    Resolved,
    create_review,
    identity_map,
    insert_customers,
    link_identities,
    plain,
    resolve_batch,
    run_batches,
    source_for,
)
from rapport.customers.models import Customer, IdentityReview
from rapport.integrations.webhooks import subscriptions_for
from rapport.org.models import OrgUnit, Staff
from rapport.touchpoints import columnar
from rapport.touchpoints.kinds import BUILTIN_KINDS
from rapport.touchpoints.models import Touchpoint, TouchpointKind
from rapport.touchpoints.records import Lookups, Parser
from rapport.touchpoints.records import Touchpoint as Parsed

__all__ = ["IngestReport", "Outcome", "Problem", "ingest_touchpoints"]

EVENT = "touchpoint.created"
COLUMNS = (
    "customer_id", "source_id", "created_at", "occurred_at", "channel", "kind", "external_id",
    "unit_id", "staff_id", "amount", "margin", "currency", "context",
)  # fmt: skip
EXT = COLUMNS.index("external_id")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
RETURNING_CHUNK = 2000  # rows per multi-row INSERT: 26,000 parameters, under both backends' caps


def lookups() -> Lookups:
    units = {
        code: (pk, zoneinfo.ZoneInfo(tz))
        for code, pk, tz in OrgUnit.objects.values_list("code", "id", "time_zone")
    }
    root = OrgUnit.enterprise()
    default_tz = zoneinfo.ZoneInfo(root.time_zone if root else settings.RAPPORT_DEFAULT_TIME_ZONE)
    return Lookups(
        units=units,
        staff=dict(Staff.objects.values_list("code", "id")),
        kinds=frozenset(BUILTIN_KINDS)
        | frozenset(TouchpointKind.objects.values_list("code", flat=True)),
        default_tz=default_tz,
        latest=timezone.now() + dt.timedelta(days=settings.RAPPORT_MAX_FUTURE_DAYS),
    )


def webhooks_wanted() -> bool:
    """Whether a webhook subscription wants touchpoint.created; checked once per ingestion."""
    return bool(subscriptions_for(EVENT))


def ingest_touchpoints(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str,
    mode: str = "all_or_nothing",
    keep_outcomes: bool = False,
    progress: Callable[[int], None] | None = None,
    emit_events: bool = True,
    on_reject: RejectHook | None = None,
    assign: Customer | None = None,
    parallel: bool = False,
    expected_rows: int | None = None,
) -> IngestReport:
    """Validate and write touchpoint records from `source` (created when unknown).

    mode: "all_or_nothing" (one transaction; any rejected record → nothing written, every record
    still validated), "skip_invalid" (write the good, commit per batch), "per_record" (the API:
    skip_invalid with outcomes). `progress(n)` is called after each batch with its size;
    `on_reject(record, problems)` for every rejected record (the import's rejects file).
    `assign` (resolving a review) writes the records to that customer without matching.
    `parallel`: read and validate in a child process (a big file on two or more CPUs; see
    rapport.core.ingestion.in_child_process) rather than a thread.
    `expected_rows`: about how many records come (an import's guess from the file size); when
    they are at least as many as the table holds, an all-or-nothing ingestion on SQLite builds
    the table's secondary indexes after the insert (rapport.core.bulkload).
    """
    check_mode(mode)
    writer = _Writer(
        source, keep_outcomes or mode == "per_record", emit_events, on_reject, assign, mode
    )
    writer.expected_rows = expected_rows
    # Ids and events need every canonical value in the writer: outcomes and webhooks stay with a
    # reader thread; for in-process handlers only the live records carry them (see parse).
    writer.packed = parallel and (not writer.detailed or writer.live_after is not None)
    parallel = writer.packed
    with bulkload.sorting_on_disk(expected_rows or 0):
        return run_batches(
            records, mode, writer.tally, writer.process, progress, writer.prepare, writer.parse,
            parallel, writer.finish,
        )  # fmt: skip


# A parsed record: (index, record, canonical values, the row's columns after the first three),
# the latter formatted by the reader so that the writer only adds the customer. From a reader
# process (`packed`, see parse), the record comes as (keys, values) and the canonical values as a
# plain tuple of what the writer reads: that pickles fast.
Item = tuple[int, Any, Any, tuple[Any, ...]]
# What the reader thread hands over per batch: the rejected records, then the parsed ones.
ParsedBatch = tuple[list[tuple[int, Mapping[str, Any], list[Problem]]], list[Item]]


class Plain(NamedTuple):
    """A Block's rows from the reader process: its plain rows as a frame (see
    rapport.touchpoints.columnar), and the rows of its other records placed in a list when
    any were parsed (None where a plain, rejected or pending row goes)."""

    frame: Any
    placed: list[tuple[Any, ...] | None] | None

    def expand(self, head: tuple[Any, Any]) -> list[tuple[Any, ...] | None]:
        """Every row at its position in the block (None: rejected or pending)."""
        plain = columnar.rows(self.frame, head)
        if self.placed is None:
            return plain  # type: ignore[return-value]
        placed = self.placed
        for position, row in zip(columnar.positions(self.frame), plain, strict=True):
            placed[position] = row
        return placed


def _record(record: Any) -> Mapping[str, Any]:
    """The record of an Item, unpacked when it came from a reader process."""
    return dict(zip(*record, strict=True)) if type(record) is tuple else record


class _Writer:
    packed = False  # parse() runs in a reader process: Items are packed (see Item)
    expected_rows: int | None = None
    rebuild: list[str] | None = None  # secondary indexes dropped, built again by finish()
    _known_frame: Any = None

    def __init__(
        self,
        source: str,
        keep_outcomes: bool,
        emit_events: bool,
        on_reject: RejectHook | None,
        assign: Customer | None,
        mode: str,
    ) -> None:
        self.tally = Tally(keep_outcomes, on_reject)
        self.source_code = source
        self.parser = Parser(lookups())
        self.contexts: dict[tuple[Any, ...], str] = {}
        # One tuple object per record shape: pickled once per batch, however many records.
        self.shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        webhooks = emit_events and webhooks_wanted()
        handlers = emit_events and events.has_handlers(EVENT)
        self.events = webhooks or handlers
        self.detailed = keep_outcomes or self.events
        # With only in-process handlers listening (rules: see events.live), history older than
        # the live window needs no event, so an import of the past keeps the fast insert path.
        self.live_after: dt.datetime | None = None
        if handlers and not webhooks and not keep_outcomes:
            self.live_after = timezone.now() - dt.timedelta(
                days=settings.RAPPORT_LIVE_EVENT_MAX_AGE_DAYS
            )
        self.assign = assign
        # One transaction for the whole input: identities seen in one batch hold for the next.
        self.known = KnownIdentities() if mode == "all_or_nothing" else None
        self.postgres = connection.vendor == "postgresql"
        qn = connection.ops.quote_name
        self.table = qn(Touchpoint._meta.db_table)
        self.columns = ", ".join(qn(c) for c in COLUMNS)
        self.row_sql = (
            "("
            + ", ".join(
                ["%s::jsonb" if c == "context" and self.postgres else "%s" for c in COLUMNS]
            )
            + ")"
        )
        self.conflict = f" ON CONFLICT ({qn('source_id')}, {qn('external_id')}) DO NOTHING"
        self.insert_sql = f"INSERT INTO {self.table} ({self.columns}) VALUES {self.row_sql}" + (
            self.conflict
        )
        self.single_transaction = mode == "all_or_nothing"

    def prepare(self) -> None:
        """Find or create the source, inside the import's transaction when all-or-nothing."""
        self.source, self.tally.report.source_created = source_for(self.source_code)
        if self.single_transaction and connection.vendor == "sqlite" and self.expected_rows:
            with connection.cursor() as cursor:
                table = Touchpoint._meta.db_table
                existing = bulkload.table_size_estimate(cursor, table)
                if bulkload.worth_rebuilding(self.expected_rows, existing):
                    self.rebuild = bulkload.drop_secondary_indexes(cursor, table)
        if self.packed and self.known is not None and not self.known.preload_tried:
            # Before the reader process forks: it gets these identities (a snapshot of this
            # transaction, as KnownIdentities holds anyway) and writes the rows of their records
            # whole. Customers this import creates are resolved here (see write_packed).
            self.known.preload_tried = True
            self.known.complete = self.known.preload(self.source.pk)

    def finish(self) -> None:
        """Build the indexes prepare() dropped, in the import's transaction before its commit."""
        if self.rebuild:
            with connection.cursor() as cursor:
                bulkload.create_indexes(cursor, self.rebuild)
            self.rebuild = None

    def parse(self, batch: list[tuple[int, Any]]) -> Any:
        """Validate a batch and format its rows; runs on the reader (no database). From a reader
        process: (rejected, rows, pending) — each parsed record's whole row, in order, when its
        customer is known and no event is wanted, else None there and the (slot, Item) in
        `pending`, for the writer to resolve. A Block's plain rows are checked a column at a time
        (rapport.touchpoints.columnar), the others one by one."""
        start, first = batch[0]
        if type(first) is Block and (not self.packed or self.postgres):
            batch = list(enumerate(first.records(), start))  # columnar formats for SQLite
        elif type(first) is Block:
            plain, others = columnar.split_block(
                first, self.parser.lk, self.known_frame(), self.live_after
            )
            rejected, parsed = self.parse_items([(start + pos, rec) for pos, rec in others])
            placed: list[tuple[Any, ...] | None] = [None] * first.count
            pending = self.place(parsed, placed, start)
            return rejected, Plain(plain, placed if parsed else None), pending
        rejected, parsed = self.parse_items(batch)
        if not self.packed:
            return rejected, parsed
        rows: list[tuple[Any, ...] | None] = [None] * len(parsed)
        return rejected, rows, self.place(parsed, rows, None)

    def place(
        self, parsed: list[Item], rows: list[tuple[Any, ...] | None], start: int | None
    ) -> list[tuple[int, Item]]:
        """Put each parsed record's row in `rows` (at its index - `start`; in order when `start`
        is None) when its customer is known; returns the others as (slot, packed Item)."""
        known = self.known.ids if self.known is not None else {}
        head = self.head()
        pending: list[tuple[int, Item]] = []
        for slot, item in enumerate(parsed):
            if start is not None:
                slot = item[0] - start
            tp = item[2]
            customer = known.get(tp[1]) if type(tp) is tuple else None  # a Parsed: live
            if customer is None:
                pending.append((slot, item))
            else:
                rows[slot] = (customer, *head, *item[3])
        if pending:  # the records themselves only for those the writer may reject or review
            shapes = self.shapes
            for n, (slot, (index, record, tp, tail)) in enumerate(pending):
                keys = tuple(record)
                keys = shapes.setdefault(keys, keys) if len(shapes) < 256 else keys
                pending[n] = (slot, (index, (keys, tuple(record.values())), tp, tail))
        return pending

    def known_frame(self) -> Any:
        """The identities known when the reader started, as a frame to join a Block on."""
        if self._known_frame is None:
            self._known_frame = columnar.known_frame(self.known.ids if self.known else {})
        return self._known_frame

    def parse_items(self, batch: list[tuple[int, Mapping[str, Any]]]) -> ParsedBatch:
        parse, encode = self.parser.parse, self.encode_context
        sqlite = not self.postgres
        packed, cutoff = self.packed, self.live_after
        rejected: list[tuple[int, Mapping[str, Any], list[Problem]]] = []
        parsed: list[Item] = []
        for index, record in batch:
            result = read_error(index, record) or parse(record, line_of(index, record))
            if type(result) is list:
                rejected.append((index, record, result))
                continue
            tp: Parsed = result  # type: ignore[assignment]
            occurred: Any = tp.occurred_at
            amount: Any = tp.amount
            margin: Any = tp.margin
            if sqlite:  # what Django's SQLite backend stores: naive UTC text, decimals as text
                occurred = occurred.replace(tzinfo=None).isoformat(" ")
                amount = None if amount is None else str(amount)
                margin = None if margin is None else str(margin)
            tail = (
                occurred, tp.channel, tp.kind, tp.external_id, tp.unit_id, tp.staff_id, amount,
                margin, tp.currency, encode(tp.context) if tp.context else "{}",
            )  # fmt: skip
            # From a reader process, a live touchpoint (see live_after) keeps its Parsed, for its
            # event; any other only what the writer reads, a plain tuple at Parsed's positions.
            if packed and (cutoff is None or tp.occurred_at < cutoff):
                tp = (tp[0], tp[1], tp[2], tp[3], tp[4], None, None, None, tp.unit_id)  # type: ignore[assignment]
            parsed.append((index, record, tp, tail))
        return rejected, parsed

    def process(self, batch: Any, write: bool) -> None:
        rejected = batch[0]
        reject = self.tally.reject
        for index, record, problems in rejected:
            reject(index, record, problems)
        if not write:
            return
        if self.packed:
            self.write_packed(batch[1], batch[2])
        elif batch[1]:
            self.write(batch[1])

    def write_packed(
        self, rows: list[tuple[Any, ...] | None], pending: list[tuple[int, Item]]
    ) -> None:
        """Write a batch from the reader process: resolve the pending records, put their rows
        in their places (file order: the first of two records with one external id wins), then
        one insert; live ones (with events) after, as write() does."""
        if type(rows) is Plain:
            rows = rows.expand(self.head())
        if pending:
            items = [item for _slot, item in pending]
            resolved, kept = self.resolve_rows(items)
            live: list[int] = []
            for row, k in zip(resolved, kept, strict=True):
                if type(items[k][2]) is Parsed:
                    live.append(k)
                else:
                    rows[pending[k][0]] = row
            if live:
                at = {k: row for row, k in zip(resolved, kept, strict=True)}
                self.insert_rows([at[k] for k in live], live, items)
        rows = [row for row in rows if row is not None]  # rejected or resolved apart
        if rows:
            self.insert_counted(rows)  # type: ignore[arg-type]

    def resolve(self, parsed: list[Item]) -> Resolved:
        make = Ref._make  # a plain tuple constructor: a NamedTuple's __new__ costs per row
        refs = [make((tp[1], tp[2], tp[3], i)) for i, (_x, _r, tp, _t) in enumerate(parsed)]
        if self.assign is None:
            return resolve_batch(self.source.pk, refs, settings.RAPPORT_DEFAULT_REGION, self.known)
        resolved = Resolved(customer={r.index: self.assign.pk for r in refs})
        exts = {r.external_id for r in refs if r.external_id}
        known = identity_map(self.source.pk, exts)
        resolved.links = {e: self.assign.pk for e in exts - set(known)}
        return resolved

    def known_customers(self, parsed: list[Item]) -> list[int] | None:
        """Each record's customer when all are identities this transaction already knows (the
        bulk of a big import, once KnownIdentities has preloaded them): one dict look-up per row,
        no Ref, no query. None when any needs resolving (resolve_batch decides those)."""
        if self.known is None or self.assign is not None:
            return None
        get = self.known.ids.get
        customers = [get(item[2][1]) for item in parsed]
        return None if None in customers else customers  # type: ignore[return-value]

    def write(self, parsed: list[Item]) -> None:
        customers = self.known_customers(parsed)
        if customers is None:
            self.resolve_and_write(parsed)
            return
        head = self.head()
        rows = [(c, *head, *item[3]) for c, item in zip(customers, parsed, strict=True)]
        self.insert_rows(rows, list(range(len(parsed))), parsed)

    def head(self) -> tuple[Any, Any]:
        """The row's columns after the customer: the source and created_at."""
        now = timezone.now()
        return (self.source.pk, now if self.postgres else now.replace(tzinfo=None).isoformat(" "))

    def resolve_and_write(self, parsed: list[Item]) -> None:
        rows, kept = self.resolve_rows(parsed)
        if rows:
            self.insert_rows(rows, kept, parsed)

    def resolve_rows(self, parsed: list[Item]) -> tuple[list[tuple[Any, ...]], list[int]]:
        """Resolve the records' customers (creating new ones, queueing ambiguous ones for
        review, rejecting bad ones): the rows to insert and each one's position in `parsed`."""
        tally = self.tally
        resolved = self.resolve(parsed)
        ids: dict[int, int] = {}
        if resolved.new:
            new = [
                (tp[4], tp[2], resolved.phones.get(i, ""), tp[8])  # name, email, unit
                for i in resolved.new.values()
                for tp in (parsed[i][2],)
            ]
            ids = dict(zip(resolved.new, insert_customers(new), strict=True))
        if resolved.links:
            links = {e: ids.get(c, c) for e, c in resolved.links.items()}
            link_identities(self.source.pk, links)
            if self.known is not None:
                self.known.remember(links)
        if resolved.ambiguous:
            self.to_review(parsed, resolved)

        head = self.head()
        rows: list[tuple[Any, ...]] = []
        kept: list[int] = []  # position in `parsed` of each row
        customer, errors, ambiguous = resolved.customer, resolved.errors, resolved.ambiguous
        if not errors and not ambiguous and not ids:  # the common case: everyone known
            rows = [(customer[pos], *head, *item[3]) for pos, item in enumerate(parsed)]
            kept = list(range(len(parsed)))
        else:
            for pos, (index, record, _tp, tail) in enumerate(parsed):
                if pos in errors:
                    p = errors[pos]
                    record = _record(record)
                    tally.reject(
                        index,
                        record,
                        [Problem(line_of(index, record), "customer_" + (p.field or ""), p.message)],
                    )
                    continue
                if pos in ambiguous:
                    continue
                key = customer[pos]
                rows.append((ids.get(key, key), *head, *tail))
                kept.append(pos)
        return rows, kept

    def insert_rows(self, rows: list[tuple[Any, ...]], kept: list[int], parsed: list[Item]) -> None:
        """Insert resolved rows (`kept`: each one's position in `parsed`), with events if wanted."""
        if self.live_after is not None:
            cutoff = self.live_after
            if self.packed:  # decided by the reader process: see parse
                is_live = [type(parsed[pos][2]) is Parsed for pos in kept]
            else:
                is_live = [parsed[pos][2].occurred_at >= cutoff for pos in kept]
            if not any(is_live):  # an import of the past
                self.insert_counted(rows)
                return
            if not all(is_live):
                self.insert_counted([r for r, x in zip(rows, is_live, strict=True) if not x])
                rows = [r for r, x in zip(rows, is_live, strict=True) if x]
                kept = [k for k, x in zip(kept, is_live, strict=True) if x]
                if not rows:
                    return
        if not self.detailed:
            self.insert_counted(rows)
            return
        self.insert_detailed(rows, kept, parsed)

    def insert_counted(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert without ids or events: only the counts are kept."""
        created = self.insert(rows)
        self.tally.count("created", created)
        self.tally.count("duplicate", len(rows) - created)

    def insert_detailed(
        self, rows: list[tuple[Any, ...]], kept: list[int], parsed: list[Item]
    ) -> None:
        """Insert keeping each row's id, for per-record outcomes and events."""
        tally = self.tally
        created_ids = self.insert_returning(rows)
        first = dict(created_ids)
        repeats = [row[EXT] for row in rows if row[EXT] not in created_ids]
        stored = (
            dict(
                Touchpoint.objects.filter(source=self.source, external_id__in=repeats).values_list(
                    "external_id", "id"
                )
            )
            if repeats
            else {}
        )
        payloads = []
        for row, pos in zip(rows, kept, strict=True):
            index, _record, tp, _tail = parsed[pos]
            ext = row[EXT]
            tp_id = created_ids.pop(ext, None)
            if tp_id is None:  # stored before, or repeated within this batch
                tally.add(index, "duplicate", stored.get(ext) or first.get(ext))
                continue
            tally.add(index, "created", tp_id)
            if self.events:
                payloads.append(_payload(tp_id, row[0], tp, self.source.code))
        if payloads:
            events.emit(EVENT, payloads)

    def insert(self, rows: list[tuple[Any, ...]]) -> int:
        """Insert rows (existing ones skipped); how many were new. On SQLite straight through the
        driver: Django's cursor wrapper would only copy every row on its way (itertools.tee)."""
        if self._watched():
            with connection.cursor() as cursor:
                cursor.executemany(self.insert_sql, rows)
                return cursor.rowcount
        connection.ensure_connection()
        with connection.wrap_database_errors:
            return bulkload.insert_grouped(
                connection.connection,
                f"INSERT INTO {self.table} ({self.columns})",
                self.row_sql.replace("%s", "?"),
                self.conflict,
                rows,
                len(COLUMNS),
            )

    def encode_context(self, context: dict[str, Any]) -> str:
        """JSON text of a context; the few distinct small ones of a big import are encoded once."""
        try:
            key = tuple(context.items())
            text = self.contexts.get(key)
        except TypeError:  # a nested value: not cacheable
            return _JSON.encode(context)
        if text is None:
            text = _JSON.encode(context)
            if len(self.contexts) < 10_000:
                self.contexts[key] = text
        return text

    def insert_returning(self, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """external id → id of each row this call created (a repeat within the call: first wins)."""
        created: dict[str, int] = {}
        qn = connection.ops.quote_name
        raw = not self._watched()
        row_sql = self.row_sql.replace("%s", "?") if raw else self.row_sql
        with connection.cursor() as cursor:
            for start in range(0, len(rows), RETURNING_CHUNK):
                chunk = rows[start : start + RETURNING_CHUNK]
                sql = (
                    f"INSERT INTO {self.table} ({self.columns}) VALUES "
                    + ", ".join([row_sql] * len(chunk))
                    + self.conflict
                    + f" RETURNING {qn('id')}, {qn('external_id')}"
                )
                params = [v for row in chunk for v in row]
                if raw:  # skips Django's %s → ? rewrite of a 2,000-row statement
                    with connection.wrap_database_errors:
                        found = connection.connection.execute(sql, params).fetchall()
                else:
                    cursor.execute(sql, params)
                    found = cursor.fetchall()
                created.update((ext, pk) for pk, ext in found)
        return created

    def _watched(self) -> bool:
        """Whether to go through Django's cursor wrapper: always on PostgreSQL (psycopg is
        called directly anyway), and whenever someone logs or wraps the queries."""
        return self.postgres or bool(connection.execute_wrappers) or connection.queries_logged

    def to_review(self, parsed: list[Item], resolved: Resolved) -> None:
        """Ambiguous customer: the touchpoint waits in a review (nothing lost, nothing guessed),
        unless it is already stored or already waiting."""
        waiting = [(pos, parsed[pos]) for pos in resolved.ambiguous]
        exts = [tp[0] for _p, (_i, _r, tp, _t) in waiting]  # external_id
        stored = dict(
            Touchpoint.objects.filter(source=self.source, external_id__in=exts).values_list(
                "external_id", "id"
            )
        )
        queued = set(
            IdentityReview.objects.filter(
                source=self.source,
                status=IdentityReview.Status.OPEN,
                record__touchpoint_external_id__in=exts,
            ).values_list("record__touchpoint_external_id", flat=True)
        )
        for pos, (index, record, tp, _t) in waiting:
            ext, customer_ext = tp[0], tp[1]
            if ext in stored:
                self.tally.add(index, "duplicate", stored[ext])
                continue
            if ext not in queued:
                queued.add(ext)
                data = {
                    "type": "touchpoint",
                    "touchpoint_external_id": ext,
                    "data": plain(_record(record)),
                }
                create_review(self.source.pk, customer_ext, data, resolved.ambiguous[pos])
            self.tally.add(index, "review")


def _payload(tp_id: int, customer_id: int, tp: Parsed, source: str) -> dict[str, Any]:
    return {
        "id": tp_id,
        "customer_id": customer_id,
        "occurred_at": tp.occurred_at.isoformat(),
        "kind": tp.kind,
        "channel": tp.channel,
        "source": source,
        "external_id": tp.external_id,
        "unit_id": tp.unit_id,
        "staff_id": tp.staff_id,
        "amount": None if tp.amount is None else str(tp.amount),
        "margin": None if tp.margin is None else str(tp.margin),
        "currency": tp.currency,
        "context": tp.context,
    }
