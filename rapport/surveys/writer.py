"""Writing the answering path's transactions on SQLite: one writer at a time, without sleeping,
and the submits that arrive together committed together.

SQLite has one writer at a time, and a writer that finds the lock taken polls for it with growing
sleeps (its busy handler: 1, 2, 5, 10 … 100 ms), so under load most of a writer's time went asleep
while the lock sat free, and one server process could keep the lock from the other for a long
while. Measured under the survey bench, the write lock was the bottleneck: held about 20 ms per
transaction for 7 ms of work, the rest spent waiting for the GIL after each statement (every
SQLite call releases it, and the server's other threads are busy). So here:

- the threads of one process queue on a `threading.Lock`, and the processes on an exclusive
  `flock` of a file beside the database (`<database>.writelock`): the kernel wakes the next
  writer the moment the lock is released, so SQLite's busy handler is not reached between them
  (it still arbitrates with other writers, e.g. the task worker);
- `submit` runs the submits of one process that arrived while another was being written in one
  transaction (group commit): one BEGIN, one COMMIT, one round of event subscribers for them
  all. Submits that name a `bulk` writer are handed to it together, so that it can store them
  with a few multi-row statements (fewer statements, fewer GIL waits under the lock). Every
  submit returns only after that COMMIT, so a response acknowledged to the respondent is
  stored: nothing is written behind;
- a batch's COMMIT does not checkpoint the WAL (SQLite's automatic checkpoint would run inside
  it, under the lock, with an fsync: measured 17 ms at p99 per batch against 2 ms at p50);
  instead the writing thread checkpoints now and then after it has let the lock go
  (PASSIVE: it waits for no one and no one waits for it);
- when a batch of several fails (a bug, a constraint), it is rolled back and each of its
  submits is run again alone, in a transaction of its own: one failing submit fails alone.

PostgreSQL (row locks, many writers) and callers already inside a transaction take the plain
path: the work runs at once in a transaction (or savepoint) of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connection, transaction
from django.utils import translation

from rapport.core.events import emit

T = TypeVar("T")
# Stores many submits at once: given their items, returns one value per item, or AGAIN for an
# item it leaves to that submit's own `work` (run after it, in the same transaction).
Bulk = Callable[[Sequence[Any]], list[Any]]
AGAIN = object()

CHECKPOINT_EVERY = 16  # batches of a process between its WAL checkpoints (about 2 MB of WAL)

_threads = threading.Lock()
_lock_files: dict[tuple[int, str], int] = {}  # (pid, path) → descriptor, opened once a process
_AUTO_CHECKPOINT = 1000  # SQLite's default, which the other writers keep
_local = threading.local()  # .events: the events of the batch being written, to emit at its end


def _lock_path() -> str | None:
    """The lock file beside a file database; None for an in-memory one (one process only)."""
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name or name.startswith("file:"):
        return None
    return f"{name}.writelock"


def _lock_file(path: str) -> int:
    key = (os.getpid(), path)  # a forked child opens its own (flock is per open file)
    fd = _lock_files.get(key)
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _lock_files[key] = fd
    return fd


@contextlib.contextmanager
def _process_lock() -> Iterator[None]:
    path = _lock_path()
    if path is None:
        yield
        return
    fd = _lock_file(path)
    fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL; woken when the holder unlocks
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def answering_write() -> Iterator[None]:
    """A write transaction of the answering path, with SQLite's write lock taken in turn."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        # An outer transaction may already hold SQLite's lock: waiting here for a thread that
        # waits for it would only end in its busy timeout.
        with transaction.atomic():
            yield
        return
    with _threads, _process_lock(), transaction.atomic():
        yield


def emit_completed(event_type: str, payloads: list[Mapping[str, Any]]) -> None:
    """`emit`, or, inside a batch being written, kept to be emitted with its other events."""
    pending = getattr(_local, "events", None)
    if pending is None:
        emit(event_type, payloads)
    else:
        pending.append((event_type, payloads))


class _Job:
    __slots__ = ("work", "bulk", "item", "language", "value", "error", "ready", "lead")

    def __init__(self, work: Callable[[], Any], bulk: Bulk | None, item: Any) -> None:
        self.work = work
        self.bulk = bulk
        self.item = item
        self.language = translation.get_language()  # validation messages in the caller's
        self.value: Any = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.lead = False  # set when this job's thread is to write the next batch


class _GroupCommit:
    """Leader and followers: the thread that finds no batch being written writes every job
    waiting (its own among them); the others wait, and one of them writes the next batch."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: list[_Job] = []
        self._writing = False
        self._batches = 0

    def run(self, work: Callable[[], T], bulk: Bulk | None, item: Any) -> T:
        job = _Job(work, bulk, item)
        with self._mutex:
            self._waiting.append(job)
            job.lead = not self._writing
            self._writing = True
        if not job.lead:
            job.ready.wait()  # done, or handed the lead
        if job.lead:
            self._write_batch()
        if job.error is not None:
            raise job.error
        return job.value

    def _write_batch(self) -> None:
        with self._mutex:
            batch, self._waiting = self._waiting, []
            self._batches += 1
            checkpoint = self._batches % CHECKPOINT_EVERY == 0
        try:
            _commit(batch)
        finally:
            with self._mutex:
                if self._waiting:
                    follower = self._waiting[0]
                    follower.lead = True
                    follower.ready.set()
                else:
                    self._writing = False
            for job in batch:
                job.ready.set()
        if checkpoint:  # the next batch is being written meanwhile
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _commit(batch: list[_Job]) -> None:
    """Write the batch in one transaction; if that fails, each of its jobs alone. The WAL is
    not checkpointed by these COMMITs (see `_GroupCommit._write_batch`)."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        _commit_batch(batch)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {_AUTO_CHECKPOINT}")


def _commit_batch(batch: list[_Job]) -> None:
    try:
        _write(batch)
    except BaseException as exc:  # nothing of the batch was stored
        if len(batch) == 1 or not isinstance(exc, Exception):
            for job in batch:
                job.error, job.value = exc, None
            if not isinstance(exc, Exception):
                raise
            return
        for job in batch:
            try:
                _write([job], use_bulk=False)
            except Exception as alone:  # this submit fails alone; the others went on
                job.error, job.value = alone, None


def _write(batch: list[_Job], *, use_bulk: bool = True) -> None:
    """The jobs in one transaction: the bulk ones first, the rest in arrival order; then their
    events (one round of subscribers); then COMMIT."""
    events: list[tuple[str, list[Mapping[str, Any]]]] = []
    _local.events = events
    try:
        with answering_write():
            rest = batch
            if use_bulk:
                rest = []
                groups: dict[Bulk, list[_Job]] = {}
                for job in batch:
                    if job.bulk is None:
                        rest.append(job)
                    else:
                        groups.setdefault(job.bulk, []).append(job)
                for bulk, jobs in groups.items():
                    for job, value in zip(jobs, bulk([j.item for j in jobs]), strict=True):
                        if value is AGAIN:
                            rest.append(job)
                        else:
                            job.value = value
            for job in rest:
                with translation.override(job.language):
                    job.value = job.work()
            by_type: dict[str, list[Mapping[str, Any]]] = {}
            for event_type, payloads in events:
                by_type.setdefault(event_type, []).extend(payloads)
            _local.events = None
            for event_type, payloads in by_type.items():
                emit(event_type, payloads)
    finally:
        _local.events = None


_group = _GroupCommit()


def submit(work: Callable[[], T], bulk: Bulk | None = None, item: Any = None) -> T:
    """Run `work` (a submit's reads and writes) in a committed write transaction; returns its
    value once committed. On SQLite outside a transaction, with the submits arriving meanwhile,
    and through `bulk(items)` together with the others naming the same `bulk`, when given."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            return work()
    return _group.run(work, bulk, item)
