"""The demo's record streams: customers and touchpoints, chunk by chunk, per source system.

A chunk covers a run of customers: first their customer master records (from the DMS), then their
touchpoints per source system; the other systems' records name the customer by their own id and an
email or phone, so identity resolution links those ids to the master as it goes. Chunks keep
memory flat at any size; the loader hands each batch to the ingestion functions, the one write
path. Later generators (surveys, feedback) add their own batches per chunk, each from its own
random stream (people.customer_rng), so earlier data stays put.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapport.core.demo import org
from rapport.core.demo.clock import Window
from rapport.core.demo.people import SOURCES, Profile, customer_record, profile
from rapport.core.demo.touchpoints import touchpoints

Record = dict[str, Any]
HISTORY_YEARS = 3


@dataclass(frozen=True, slots=True)
class Batch:
    target: str  # "customers" or "touchpoints": which ingestion function takes it
    source: str
    records: list[Record]


@dataclass(frozen=True, slots=True)
class Chunk:
    customers: int  # how many demo customers the chunk covers, for progress
    batches: list[Batch]


def window(as_of: date) -> Window:
    """The demo's history: three years up to the day before `as_of`, in the group's time zone."""
    return Window(as_of, years=HISTORY_YEARS, time_zone=org.TIME_ZONE)


def profiles(seed: int, customers: int, as_of: date) -> Iterator[Profile]:
    w = window(as_of)
    for index in range(customers):
        yield profile(seed, index, w)


def chunks(seed: int, customers: int, as_of: date, *, size: int = 1_000) -> Iterator[Chunk]:
    """The whole demo data set, `size` customers at a time; same arguments, same records."""
    w = window(as_of)
    for first in range(0, customers, size):
        masters: list[Record] = []
        events: dict[str, list[Record]] = defaultdict(list)
        last = min(first + size, customers)
        for index in range(first, last):
            p = profile(seed, index, w)
            masters.append(customer_record(p))
            for source, record in touchpoints(p, w, seed, customers):
                events[source].append(record)
        batches = [Batch("customers", "dms", masters)]
        batches += [Batch("touchpoints", s, events[s]) for s in SOURCES if events.get(s)]
        yield Chunk(last - first, batches)


def prefetched(
    seed: int, customers: int, as_of: date, *, size: int = 1_000, ahead: int = 2
) -> Iterator[Chunk]:
    """The same chunks, generated in a child process while the caller writes the previous ones:
    generation and ingestion then use a core each. At most `ahead` chunks wait in between, so
    memory stays flat. The child is stopped when the caller stops early. Needs `fork` (Linux,
    macOS); see `can_prefetch`."""
    # fork: the child needs no start-up and never re-runs the caller's script (as spawn would);
    # it only generates, and never touches the database connection it inherits.
    ctx = multiprocessing.get_context("fork")
    waiting: multiprocessing.Queue[Chunk | None] = ctx.Queue(maxsize=ahead)
    child = ctx.Process(
        target=_produce, args=(waiting, seed, customers, as_of, size), name="demo-generator"
    )
    child.start()
    try:
        while True:
            try:
                chunk = waiting.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"the demo generator process stopped (exit status {child.exitcode})"
                    ) from None
                continue
            if chunk is None:
                break
            yield chunk
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        waiting.close()


def can_prefetch() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _produce(
    waiting: multiprocessing.Queue[Chunk | None], seed: int, customers: int, as_of: date, size: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    for chunk in chunks(seed, customers, as_of, size=size):
        waiting.put(chunk)
    waiting.put(None)
