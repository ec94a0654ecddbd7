"""What every ingestion (file import, API batch, demo loader) reports, and how modes behave.

Kept free of the ORM: the customer and touchpoint ingesters share these types and the report
accumulator, so the API, the import command and the demo generator read one shape.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.utils import translation
from django.utils.translation import gettext as _

T = TypeVar("T")
U = TypeVar("U")

MODES = ("all_or_nothing", "skip_invalid", "per_record")
MAX_PROBLEMS = 100  # problems kept in a report; the rest are only counted
BATCH_SIZE = 10_000

# Reserved keys a reader may add to a record: its line in the input, and a problem found while
# reading it (bad JSON, wrong number of CSV values) so that it is rejected like any other.
LINE_KEY = "_line"
ERROR_KEY = "_error"


@dataclass
class Problem:
    line: int | None  # 1-based record/line number in the input
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.field:
            where.append(self.field)
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class Outcome:
    index: int  # 0-based position of the record in the input
    status: str  # "created" | "updated" | "duplicate" | "rejected" | "review"
    id: int | None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class IngestReport:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    review: int = 0
    outcomes: list[Outcome] | None = None
    problems: list[Problem] = field(default_factory=list)
    committed: bool = False
    problem_count: int = 0
    updated: int = 0  # customers only: an existing customer whose data changed
    source_created: bool = False

    @property
    def total(self) -> int:
        return self.created + self.updated + self.duplicates + self.rejected + self.review


RejectHook = Callable[[Mapping[str, Any], list[Problem]], None]


class Tally:
    """Accumulates a report while batches go by; outcomes only when asked for."""

    def __init__(self, keep_outcomes: bool, on_reject: RejectHook | None = None) -> None:
        self.report = IngestReport(outcomes=[] if keep_outcomes else None)
        self.on_reject = on_reject

    def add(self, index: int, status: str, id: int | None = None) -> None:
        if status == "created":
            self.report.created += 1
        elif status == "duplicate":
            self.report.duplicates += 1
        elif status == "review":
            self.report.review += 1
        elif status == "updated":
            self.report.updated += 1
        if self.report.outcomes is not None:
            self.report.outcomes.append(Outcome(index, status, id, []))

    def count(self, status: str, n: int) -> None:
        """Count n records at once (the fast path, which keeps no outcomes)."""
        setattr(self.report, _COUNTERS[status], getattr(self.report, _COUNTERS[status]) + n)

    def reject(self, index: int, record: Mapping[str, Any], problems: list[Problem]) -> None:
        report = self.report
        report.rejected += 1
        report.problem_count += len(problems)
        room = MAX_PROBLEMS - len(report.problems)
        if room > 0:
            report.problems.extend(problems[:room])
        if report.outcomes is not None:
            report.outcomes.append(Outcome(index, "rejected", None, problems))
        if self.on_reject is not None:
            self.on_reject(record, problems)

    def finish(self) -> IngestReport:
        if self.report.outcomes is not None:
            self.report.outcomes.sort(key=lambda o: o.index)
        return self.report


_COUNTERS = {
    "created": "created",
    "duplicate": "duplicates",
    "review": "review",
    "updated": "updated",
}


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown ingest mode {mode!r}; use one of {', '.join(MODES)}")


def batches(records: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[tuple[int, Any]]]:
    """(index, record) lists of at most `size`, so memory stays flat however long the input.

    A Block (many CSV rows in columns) is a batch of its own, and counts as its rows."""
    it = iter(records)
    index = 0
    while True:
        batch: list[tuple[int, Any]] = []
        for record in it:
            if type(record) is Block:
                if batch:
                    yield batch
                yield [(index, record)]
                index += record.count
                batch = []
                continue
            batch.append((index, record))
            index += 1
            if len(batch) >= size:
                break
        if not batch:
            return
        yield batch


def batch_size(batch: list[tuple[int, Any]]) -> int:
    """How many records a batch holds (a Block's rows)."""
    first = batch[0][1] if batch else None
    return first.count if type(first) is Block else len(batch)


@dataclass
class Block:
    """Many CSV rows at once, in columns: what a reader hands over when it can (see
    rapport.core.fileio: lines with no quote, every field present), so that an ingester able to
    check whole columns at once (rapport.touchpoints.columnar) needs no dict per row. Ingesters
    that cannot take the records one by one with `records()`."""

    frame: Any  # polars.DataFrame of str columns named by field
    lines: Any  # polars.Series: each row's line in the file

    @property
    def count(self) -> int:
        return int(self.frame.height)

    def records(self) -> Iterator[dict[str, Any]]:
        names = self.frame.columns
        for values, line in zip(self.frame.iter_rows(), self.lines, strict=True):
            record = dict(zip(names, values, strict=True))
            record[LINE_KEY] = line
            yield record


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class _End:
    """The end of a child's results (pickled, so a class rather than an object's identity)."""


def in_background(items: Iterable[T], work: Callable[[T], U], depth: int = 2) -> Iterator[U]:
    """`work(item)` for each item, computed by a thread up to `depth` items ahead, in order.

    Ingestion reads and validates the next batch here while the caller's thread writes the
    current one: the database drivers release the GIL while the database works, so on two cores
    both proceed at once. `items` and `work` must not touch the database (the caller's
    connection is not theirs). An exception in the thread is raised in the caller at the point
    where its item would have come; closing the generator (the caller failing, or stopping
    early) stops the thread before this returns. The thread speaks the caller's language.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    language = translation.get_language()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        if language is None:
            translation.deactivate_all()
        else:
            translation.activate(language)
        try:
            for item in items:
                if not put(work(item)):
                    return
        except BaseException as exc:  # handed to the caller, who decides
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="rapport-ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            value = ready.get()
            if value is _DONE:
                return
            if type(value) is _Failed:
                raise value.error
            yield value
    finally:
        stop.set()
        thread.join()


def can_fork() -> bool:
    """Whether `in_child_process` can run here: `fork` (Linux, macOS) and a second CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()


class ReaderStopped(RuntimeError):
    """The reader process ended without handing over its work (killed, out of memory)."""


def in_child_process(items: Iterable[T], work: Callable[[T], U], depth: int = 2) -> Iterator[U]:
    """`work(item)` for each item, computed by a forked child process up to `depth` items ahead.

    Like `in_background`, but on a core of its own: a thread shares the GIL with the writer, so
    reading and validating slowed the writer down by about as much as they saved. The child
    inherits `items` (an open file's records) and `work` by fork, and sends results back pickled
    through a bounded queue, so memory stays flat. It must not touch the database: it only
    inherits the connection, never uses it, and leaves by `os._exit` (nothing closed for the
    parent). An exception in the child is raised here, where its item would have come; the child
    dying is a ReaderStopped; closing this generator stops the child. Use `can_fork()` first.
    """
    ctx = multiprocessing.get_context("fork")
    ready: Any = ctx.Queue(maxsize=depth)
    language = translation.get_language()
    parent = os.getpid()

    def produce() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
        if language is None:
            translation.deactivate_all()
        else:
            translation.activate(language)

        def put(value: Any) -> None:
            while True:
                try:
                    ready.put(value, timeout=0.5)
                    return
                except queue.Full:
                    if os.getppid() != parent:  # the parent is gone (killed): so are we
                        os._exit(1)

        try:
            for item in items:
                put(work(item))
        except BaseException as exc:  # handed to the parent, who decides
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            put(_Failed(exc))
        else:
            put(_End())
        ready.close()
        ready.join_thread()

    child = ctx.Process(target=produce, name="rapport-ingest-reader", daemon=True)
    child.start()
    try:
        while True:
            try:
                value = ready.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise ReaderStopped(
                        _("the import's reader process stopped (exit status %(code)s)")
                        % {"code": child.exitcode}
                    ) from None
                continue
            if type(value) is _Failed:
                raise value.error
            if type(value) is _End:
                return
            yield value
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        ready.close()
        ready.cancel_join_thread()


def line_of(index: int, record: Mapping[str, Any]) -> int:
    """The record's line in its file when a reader said so, else its 1-based position."""
    line = record.get(LINE_KEY)
    return line if isinstance(line, int) else index + 1


def read_error(index: int, record: Mapping[str, Any]) -> list[Problem] | None:
    """The problem a reader attached to a record it could not read, if any."""
    error = record.get(ERROR_KEY)
    if error:
        return [Problem(line_of(index, record), None, str(error))]
    return None


def unknown_fields(
    record: Mapping[str, Any], known: frozenset[str], prefixes: tuple[str, ...]
) -> list[str]:
    return [
        k
        for k in record
        if k not in known and not k.startswith(prefixes) and k not in (LINE_KEY, ERROR_KEY)
    ]


def unknown_field_message(name: str) -> str:
    return _("unknown field %(name)s") % {"name": name}
