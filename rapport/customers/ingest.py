"""Writing customer records, and the batch identity resolution touchpoint ingestion shares.

One write path for the import command, the API and the demo generator. Records are validated by
rapport.customers.records and resolved by the rules in rapport.customers.identity; this module
does the look-ups (one IN query per key and batch) and the bulk writes.

Transactions: "all_or_nothing" runs the whole input in one transaction (rolled back if any record
is rejected); "skip_invalid" and "per_record" commit each batch of BATCH_SIZE records. On
PostgreSQL, creating customers takes a transaction-level advisory lock, so that two concurrent
writers never create the same customer twice (SQLite's IMMEDIATE transactions already serialise).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rapport.core.ingestion import (
    LINE_KEY,
    IngestReport,
    Problem,
    RejectHook,
    Tally,
    batch_size,
    batches,
    check_mode,
    in_background,
    in_child_process,
    line_of,
    read_error,
)
from rapport.customers import identity, normalize
from rapport.customers.models import (
    AttributeDefinition,
    Consent,
    Customer,
    CustomerIdentity,
    IdentityReview,
    SourceSystem,
)
from rapport.customers.records import CustomerRecord, Lookups, parse
from rapport.org.models import OrgUnit

_SOURCE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
_LOCK_KEY = 0x52415050  # "RAPP": the advisory lock around customer creation on PostgreSQL


def source_for(code: str) -> tuple[SourceSystem, bool]:
    """The source system with this code, created when new (its name starts as the code)."""
    if not _SOURCE.match(code or ""):
        raise ValueError(
            _("invalid source %(code)r: use letters, digits, - and _ (at most 64)") % {"code": code}
        )
    return SourceSystem.objects.get_or_create(code=code, defaults={"name": code})


def lock_identities() -> None:
    """Serialise customer creation between concurrent writers (held until the transaction ends)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


class Ref(NamedTuple):
    """What a record says about its customer."""

    external_id: str
    email: str
    phone: str  # as given; normalised here, only when needed
    index: int


@dataclass
class Resolved:
    """A batch's answer: per ref a customer id (negative = to be created), or why not."""

    customer: dict[int, int] = field(default_factory=dict)  # ref index → id or placeholder
    ambiguous: dict[int, identity.Resolution] = field(default_factory=dict)
    errors: dict[int, Problem] = field(default_factory=dict)
    new: dict[int, int] = field(default_factory=dict)  # placeholder → index of defining ref
    links: dict[str, int] = field(default_factory=dict)  # external id → id/placeholder to link
    phones: dict[int, str] = field(default_factory=dict)  # ref index → normalised phone


def _live_ids(pairs: Iterable[tuple[Any, int, int | None]]) -> dict[Any, int]:
    """key → live customer, following merged_into for the rare identity left on a merged one."""
    found: dict[Any, int] = {}
    pending: dict[Any, int] = {}
    for key, customer_id, merged_into in pairs:
        if merged_into is None:
            found[key] = customer_id
        else:
            pending[key] = merged_into
    if pending:
        chain = dict(
            Customer.objects.values_list("id", "merged_into_id").filter(merged_into__isnull=False)
        )
        for key, nxt in pending.items():
            found[key] = identity.follow_merges(nxt, chain)
    return found


# Ids per identity look-up statement: well under SQLite's 32,766 parameters.
_LOOKUP_CHUNK = 10_000


def identity_map(source_id: int, external_ids: Iterable[str]) -> dict[str, int]:
    """external id → live customer of the source's known identities among `external_ids`.

    Plain SQL: for the thousands of ids of an API batch the ORM's compiling and row handling
    cost more than the look-up itself."""
    ids = list(set(external_ids))
    if not ids:
        return {}
    qn = connection.ops.quote_name
    head = (
        f"SELECT i.{qn('external_id')}, i.{qn('customer_id')}, c.{qn('merged_into_id')}"
        f" FROM {qn(CustomerIdentity._meta.db_table)} i JOIN {qn(Customer._meta.db_table)} c"
        f" ON c.{qn('id')} = i.{qn('customer_id')}"
        f" WHERE i.{qn('source_id')} = %s AND i.{qn('external_id')} IN "
    )
    rows: list[tuple[str, int, int | None]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            cursor.execute(head + "(" + ", ".join(["%s"] * len(chunk)) + ")", [source_id, *chunk])
            rows.extend(cursor.fetchall())
    return _live_ids(rows)


class KnownIdentities:
    """external id → live customer id of one source, remembered across the batches of one
    transaction, so that a big import asks the database only about ids it has not seen yet.

    Only valid while nothing else can change identities: use one per all-or-nothing ingestion
    (a single transaction; on SQLite it holds the write lock). Bounded: the oldest entries go
    first, so memory stays flat however many customers a file names.
    """

    # A batch missing at least this many ids loads the source's whole identity map at once (when
    # it fits under `limit`): one scan instead of IN queries of thousands of ids batch after batch.
    PRELOAD_AFTER = 1_000

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.ids: dict[str, int] = {}
        self.complete = False  # `ids` holds every identity of the source: a miss is a new one
        self.preload_tried = False

    def lookup(self, source_id: int, external_ids: Iterable[str]) -> dict[str, int]:
        ids, found, missing = self.ids, {}, set()
        for ext in external_ids:
            customer = ids.get(ext)
            if customer is None:
                missing.add(ext)
            else:
                found[ext] = customer
        if missing and not self.complete:
            if len(missing) >= self.PRELOAD_AFTER and not self.preload_tried:
                self.preload_tried = True
                self.complete = self.preload(source_id)
                if self.complete:
                    found.update((e, ids[e]) for e in missing if e in ids)
                    return found
            fetched = identity_map(source_id, missing)
            self.remember(fetched)
            found.update(fetched)
        return found

    def preload(self, source_id: int) -> bool:
        """Load every identity of the source when there are at most `limit`; whether it did."""
        qn = connection.ops.quote_name
        identities = qn(CustomerIdentity._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM {identities} WHERE {qn('source_id')} = %s", [source_id]
            )
            (count,) = cursor.fetchone()
            if count > self.limit:
                return False
            cursor.execute(
                f"SELECT i.{qn('external_id')}, i.{qn('customer_id')}, c.{qn('merged_into_id')}"
                f" FROM {identities} i JOIN {qn(Customer._meta.db_table)} c"
                f" ON c.{qn('id')} = i.{qn('customer_id')} WHERE i.{qn('source_id')} = %s",
                [source_id],
            )
            rows = cursor.fetchall()
        self.ids.update(_live_ids(rows))
        return len(self.ids) <= self.limit

    def remember(self, links: Mapping[str, int]) -> None:
        self.ids.update(links)
        excess = len(self.ids) - self.limit
        if excess > 0:
            self.complete = False
            for ext in list(islice(self.ids, excess + self.limit // 4)):
                del self.ids[ext]


def _matches(field_name: str, values: set[str]) -> dict[str, set[int]]:
    """value → the live customers having it (a merged customer counts as its survivor)."""
    found: dict[str, set[int]] = defaultdict(set)
    if values:
        rows = list(
            Customer.objects.filter(**{f"{field_name}__in": list(values)}).values_list(
                field_name, "id", "merged_into_id"
            )
        )
        live = _live_ids(((i, i, m) for _v, i, m in rows))
        for value, customer_id, _m in rows:
            found[value].add(live[customer_id])
    return found


def resolve_batch(
    source_id: int, refs: Sequence[Ref], region: str, cache: KnownIdentities | None = None
) -> Resolved:
    """Resolve every ref of a batch with one query per key type, consistently within the batch:
    two records naming the same new customer (by id, email or phone) get the same placeholder.
    With `cache`, identities it knows are not asked for again (see KnownIdentities)."""
    out = Resolved()
    exts = (r.external_id for r in refs if r.external_id)
    known = cache.lookup(source_id, exts) if cache is not None else identity_map(source_id, exts)
    unknown = [r for r in refs if not (r.external_id and r.external_id in known)]
    if unknown and connection.vendor == "postgresql":
        # Ask again under the lock: a concurrent writer may have created them meanwhile. (On
        # SQLite the transaction already holds the write lock, so nothing can have changed.)
        lock_identities()
        again = identity_map(source_id, (r.external_id for r in unknown if r.external_id))
        if cache is not None:
            cache.remember(again)
        known.update(again)
        unknown = [r for r in unknown if not (r.external_id and r.external_id in known)]
    for ref in unknown:
        if ref.phone:
            try:
                out.phones[ref.index] = normalize.phone(ref.phone, region)
            except ValueError as exc:
                out.errors[ref.index] = Problem(None, "phone", str(exc))
    by_email = _matches("email", {r.email for r in unknown if r.email})
    by_phone = _matches("phone", {out.phones[r.index] for r in unknown if r.index in out.phones})
    waiting = open_reviews(source_id, {r.external_id for r in unknown if r.external_id})

    new_by_ext: dict[str, int] = {}
    for ref in refs:
        if ref.index in out.errors:
            continue
        if ref.external_id in known:
            out.customer[ref.index] = known[ref.external_id]
            continue
        if ref.external_id and ref.external_id in new_by_ext:
            out.customer[ref.index] = new_by_ext[ref.external_id]
            continue
        if ref.external_id in waiting:
            review = waiting[ref.external_id]
            out.ambiguous[ref.index] = identity.Resolution(
                identity.AMBIGUOUS,
                candidates=tuple(review.candidates.values_list("id", flat=True)),
                reason=_("this identity is waiting in review #%(id)s") % {"id": review.pk},
            )
            continue
        phone = out.phones.get(ref.index, "")
        decision = identity.resolve(
            None, by_email.get(ref.email, ()) if ref.email else (), by_phone.get(phone, ())
        )
        if decision.kind == identity.AMBIGUOUS:
            out.ambiguous[ref.index] = decision
            continue
        if decision.kind == identity.MATCH:
            customer_id = decision.customer_id
        else:
            customer_id = -(len(out.new) + 1)
            out.new[customer_id] = ref.index
            if ref.email:
                by_email[ref.email].add(customer_id)
            if phone:
                by_phone[phone].add(customer_id)
        assert customer_id is not None
        out.customer[ref.index] = customer_id
        if ref.external_id:
            new_by_ext[ref.external_id] = customer_id
            out.links[ref.external_id] = customer_id
    return out


def open_reviews(source_id: int, external_ids: set[str]) -> dict[str, IdentityReview]:
    """Open reviews about these identities: further records wait for the same decision."""
    external_ids.discard("")
    if not external_ids:
        return {}
    reviews = IdentityReview.objects.filter(
        source_id=source_id, external_id__in=list(external_ids), status=IdentityReview.Status.OPEN
    ).order_by("pk")
    return {r.external_id: r for r in reviews}


def create_customers(customers: list[Customer]) -> list[int]:
    """Bulk-insert new customers and return their ids (both backends return them)."""
    Customer.objects.bulk_create(customers, batch_size=2000)
    return [c.pk for c in customers]


# Rows per multi-row INSERT ... RETURNING of new customers: 4,000 parameters, under both caps.
_NEW_CHUNK = 500


def insert_customers(people: Sequence[tuple[str, str, str, int | None]]) -> list[int]:
    """Insert bare customers — (display name, email, phone, home unit id) — and return their ids
    in order. What Customer.objects.bulk_create stores (defaults, timestamps), by plain SQL: a
    touchpoint import can name hundreds of thousands of new customers, and a model instance per
    row would cost more than the insert itself."""
    qn = connection.ops.quote_name
    now: Any = timezone.now()
    if connection.vendor != "postgresql":
        now = now.replace(tzinfo=None).isoformat(" ")  # as Django's SQLite backend stores it
    language = Customer._meta.get_field("preferred_language").get_default()
    head = (
        f"INSERT INTO {qn(Customer._meta.db_table)} ({qn('display_name')}, {qn('email')}, "
        f"{qn('phone')}, {qn('home_unit_id')}, {qn('preferred_language')}, {qn('attributes')}, "
        f"{qn('created_at')}, {qn('updated_at')}) VALUES "
    )
    row = "(%s, %s, %s, %s, %s, '{}', %s, %s)"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(people), _NEW_CHUNK):
            chunk = people[start : start + _NEW_CHUNK]
            cursor.execute(
                head + ", ".join([row] * len(chunk)) + f" RETURNING {qn('id')}",
                [v for p in chunk for v in (*p, language, now, now)],
            )
            ids.extend(pk for (pk,) in cursor.fetchall())
    return ids


def link_identities(source_id: int, links: Mapping[str, int]) -> None:
    """Create (source, external id) → customer identities, as bulk_create would store them."""
    qn = connection.ops.quote_name
    now: Any = timezone.now()
    if connection.vendor != "postgresql":
        now = now.replace(tzinfo=None).isoformat(" ")
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {qn(CustomerIdentity._meta.db_table)} ({qn('source_id')}, "
            f"{qn('external_id')}, {qn('customer_id')}, {qn('created_at')}) "
            "VALUES (%s, %s, %s, %s)",
            [(source_id, e, c, now) for e, c in links.items()],
        )


def create_review(
    source_id: int, external_id: str, record: dict[str, Any], decision: identity.Resolution
) -> IdentityReview:
    review = IdentityReview.objects.create(
        source_id=source_id, external_id=external_id, record=record, reason=decision.reason[:300]
    )
    if decision.candidates:
        review.candidates.set(decision.candidates)
    return review


def plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as sent, without the reader's bookkeeping (what a review keeps)."""
    return {k: v for k, v in record.items() if k != LINE_KEY}


def run_batches(
    records: Iterable[Mapping[str, Any]],
    mode: str,
    tally: Tally,
    process: Callable[[Any, bool], None],
    progress: Callable[[int], None] | None,
    prepare: Callable[[], None],
    parse: Callable[[list[tuple[int, Mapping[str, Any]]]], Any] | None = None,
    parallel: bool = False,
    finish: Callable[[], None] | None = None,
) -> IngestReport:
    """Drive `prepare()` then `process(batch, write)` under the mode's transactions, then
    `finish()` (all_or_nothing: in the transaction, before the commit, unless rolling back).

    With `parse`, each batch is first turned into `parse(batch)` by a reader thread
    (rapport.core.ingestion.in_background) while this thread writes the previous one, and
    `process` gets what `parse` returned; `parse` must not touch the database. With `parallel`
    (big files, see can_fork), reading and parsing run in a child process instead
    (rapport.core.ingestion.in_child_process): `parse`'s results must pickle. All database work
    stays on this thread's connection and transaction.

    all_or_nothing: one transaction; after the first rejected record the rest is only validated
    (write=False) and everything is rolled back at the end. Otherwise one transaction per batch,
    entered once the batch is parsed (concurrent writers wait on each other only for the writing).
    """
    check_mode(mode)
    report = tally.report
    if parse is None:
        stream: Iterator[tuple[int, Any]] = ((len(b), b) for b in batches(records))
    else:
        ahead = in_child_process if parallel else in_background
        stream = ahead(batches(records), lambda b: (batch_size(b), parse(b)))
    with closing(stream):  # type: ignore[type-var]
        if mode == "all_or_nothing":
            with transaction.atomic():
                prepare()
                for size, batch in stream:
                    process(batch, report.rejected == 0)
                    if progress:
                        progress(size)
                if report.rejected:
                    transaction.set_rollback(True)
                elif finish:
                    finish()
            if report.rejected:
                report.created = report.updated = report.duplicates = report.review = 0
                if report.outcomes is not None:
                    report.outcomes = [o for o in report.outcomes if o.status == "rejected"]
            report.committed = report.rejected == 0
        else:
            prepare()
            for size, batch in stream:
                with transaction.atomic():
                    process(batch, True)
                if progress:
                    progress(size)
            if finish:
                finish()
            report.committed = True
    return tally.finish()


def customer_lookups() -> Lookups:
    return Lookups(
        units=dict(OrgUnit.objects.values_list("code", "id")),
        attributes=dict(AttributeDefinition.objects.values_list("name", "type")),
        region=settings.RAPPORT_DEFAULT_REGION,
    )


_PROFILE = (
    ("name", "display_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("language", "preferred_language"),
    ("unit_id", "home_unit_id"),
)


def apply_record(customer: Customer, rec: CustomerRecord) -> bool:
    """Put the record's given fields on the customer; whether anything changed."""
    changed = False
    for src, dst in _PROFILE:
        value = getattr(rec, src)
        if value is not None and getattr(customer, dst) != value:
            setattr(customer, dst, value)
            changed = True
    for name, value in rec.attributes.items():
        if customer.attributes.get(name) != value:
            customer.attributes = {**customer.attributes, name: value}
            changed = True
    return changed


def ingest_customers(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str,
    mode: str = "all_or_nothing",
    keep_outcomes: bool = False,
    progress: Callable[[int], None] | None = None,
    emit_events: bool = True,
    on_reject: RejectHook | None = None,
    assign: Customer | None = None,
) -> IngestReport:
    """Create or update customers from records; see the module docstring for transactions.

    A known (source, external id) updates that customer (given fields replace stored ones,
    consents are set); an unknown one is matched by email/phone or creates a customer. `assign`
    (used when a person resolves a review) skips matching and applies the record to that customer.
    No customer event exists yet, so `emit_events` has nothing to emit.
    """
    check_mode(mode)
    tally = Tally(keep_outcomes or mode == "per_record", on_reject)
    lookups = customer_lookups()
    sources: list[SourceSystem] = []

    def prepare() -> None:
        src, tally.report.source_created = source_for(source)
        sources.append(src)

    def process(batch: list[tuple[int, Mapping[str, Any]]], write: bool) -> None:
        parsed: list[tuple[int, Mapping[str, Any], CustomerRecord]] = []
        for index, record in batch:
            line = line_of(index, record)
            result = read_error(index, record) or parse(record, line, lookups)
            if isinstance(result, list):
                tally.reject(index, record, result)
            else:
                parsed.append((index, record, result))
        if write and parsed:
            _write_customers(sources[0], parsed, tally, assign)

    return run_batches(records, mode, tally, process, progress, prepare)


def _write_customers(
    source: SourceSystem,
    parsed: list[tuple[int, Mapping[str, Any], CustomerRecord]],
    tally: Tally,
    assign: Customer | None,
) -> None:
    source_id, source_code = source.pk, source.code
    refs = [Ref(r.external_id, r.email or "", r.phone or "", i) for i, _rec, r in parsed]
    if assign is not None:
        resolved = Resolved(customer={ref.index: assign.pk for ref in refs})
        exts = {ref.external_id for ref in refs}
        resolved.links = {e: assign.pk for e in exts - set(identity_map(source_id, exts))}
    else:
        resolved = resolve_batch(source_id, refs, settings.RAPPORT_DEFAULT_REGION)
    existing = Customer.objects.in_bulk([c for c in resolved.customer.values() if c > 0])
    new: dict[int, Customer] = {}
    changed: set[int] = set()
    now = timezone.now()
    statuses: list[tuple[int, str, int]] = []
    consents: dict[tuple[int, str, str], bool] = {}
    for index, record, rec in parsed:
        if index in resolved.errors:
            problem = resolved.errors[index]
            tally.reject(
                index, record, [Problem(line_of(index, record), problem.field, problem.message)]
            )
            continue
        if index in resolved.ambiguous:
            decision = resolved.ambiguous[index]
            waiting = open_reviews(source_id, {rec.external_id}).get(rec.external_id)
            if waiting is None or waiting.record.get("data") != plain(record):
                create_review(
                    source_id,
                    rec.external_id,
                    {"type": "customer", "data": plain(record)},
                    decision,
                )
            tally.add(index, "review")
            continue
        key = resolved.customer[index]
        if key < 0:
            customer = new.get(key)
            status = "updated" if customer is not None else "created"
            if customer is None:
                customer = new[key] = Customer()
            apply_record(customer, rec)
        else:
            customer = existing[key]
            status = "updated" if apply_record(customer, rec) else "duplicate"
            if status == "updated":
                customer.updated_at = now
                changed.add(key)
        for (channel, purpose), granted in rec.consents.items():
            consents[(key, channel, purpose)] = granted
        statuses.append((index, status, key))
    if new:
        ids = dict(zip(new, create_customers(list(new.values())), strict=True))
    else:
        ids = {}
    if changed:
        Customer.objects.bulk_update(
            [existing[c] for c in changed],
            [
                "display_name",
                "email",
                "phone",
                "preferred_language",
                "home_unit",
                "attributes",
                "updated_at",
            ],
            batch_size=2000,
        )
    links = {e: ids.get(c, c) for e, c in resolved.links.items()}
    if links:
        link_identities(source_id, links)
    consent_changed = _set_consents(
        {(ids.get(k, k), ch, p): g for (k, ch, p), g in consents.items()}, source_code
    )
    for index, status, key in statuses:
        if status == "duplicate" and key in consent_changed:
            status = "updated"
        tally.add(index, status, ids.get(key, key))


def _set_consents(wanted: dict[tuple[int, str, str], bool], source: str) -> set[int]:
    """Upsert consent rows; the customers whose consent actually changed."""
    if not wanted:
        return set()
    customer_ids = {c for c, _ch, _p in wanted}
    current = {
        (c, ch, p): g
        for c, ch, p, g in Consent.objects.filter(customer_id__in=customer_ids).values_list(
            "customer_id", "channel", "purpose", "granted"
        )
    }
    changes = {k: g for k, g in wanted.items() if current.get(k) != g}
    Consent.objects.bulk_create(
        [
            Consent(customer_id=c, channel=ch, purpose=p, granted=g, source=source)
            for (c, ch, p), g in changes.items()
        ],
        update_conflicts=True,
        unique_fields=["customer", "channel", "purpose"],
        update_fields=["granted", "source", "recorded_at"],
        batch_size=2000,
    )
    return {c for c, _ch, _p in changes}
