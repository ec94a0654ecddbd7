"""Writing the answering path's transactions on SQLite: one writer at a time, without sleeping,
and the submits that arrive together committed together.

SQLite has one writer at a time, and a writer that finds the lock taken polls for it with growing
sleeps (its busy handler: 1, 2, 5, 10 … 100 ms), so under load most of a writer's time went asleep
while the lock sat free, and one server process could keep the lock from the other for a long
while. Here:

- the threads of one process queue on a `threading.Lock`, and the processes on an exclusive
  `flock` of a file beside the database (`<database>.writelock`): the kernel wakes the next
  writer the moment the lock is released, so SQLite's busy handler is not reached between them
  (it still arbitrates with other writers, e.g. the task worker);
- `submit` runs the submits of one process that arrived while another was being written in one
  transaction (group commit): one BEGIN, one COMMIT, one round of event subscribers for them
  all, each submit in its own savepoint so that one failing submit fails alone. Every submit
  returns only after that COMMIT, so a response acknowledged to the respondent is stored: nothing
  is written behind.

PostgreSQL (row locks, many writers) and callers already inside a transaction take the plain
path: the work runs at once in a transaction (or savepoint) of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from django.db import connection, transaction
from django.utils import translation

from rapport.core.events import emit

T = TypeVar("T")

_threads = threading.Lock()
_lock_files: dict[tuple[int, str], int] = {}  # (pid, path) → descriptor, opened once a process
_local = threading.local()  # .events: the events a submit being run in a batch emitted


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
    """`emit`, or, inside a batched submit, kept to be emitted with the batch's other events."""
    pending = getattr(_local, "events", None)
    if pending is None:
        emit(event_type, payloads)
    else:
        pending.append((event_type, payloads))


class _Job:
    __slots__ = ("work", "language", "value", "error", "events", "ready", "lead")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.language = translation.get_language()  # validation messages in the caller's
        self.value: Any = None
        self.error: BaseException | None = None
        self.events: list[tuple[str, list[Mapping[str, Any]]]] = []
        self.ready = threading.Event()
        self.lead = False  # set when this job's thread is to write the next batch


class _GroupCommit:
    """Leader and followers: the thread that finds no batch being written writes every job
    waiting (its own among them); the others wait, and one of them writes the next batch."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: list[_Job] = []
        self._writing = False

    def run(self, work: Callable[[], T]) -> T:
        job = _Job(work)
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


def _commit(batch: list[_Job]) -> None:
    """Run the jobs in one transaction, each in a savepoint; then their events, then COMMIT."""
    alone = len(batch) == 1  # the writer's own submit: its failure is the transaction's
    try:
        with answering_write():
            for job in batch:
                _run(job, savepoint=not alone)
            by_type: dict[str, list[Mapping[str, Any]]] = {}
            for job in batch:
                for event_type, payloads in job.events:
                    by_type.setdefault(event_type, []).extend(payloads)
            for event_type, payloads in by_type.items():
                emit(event_type, payloads)
    except BaseException as exc:  # BEGIN, the events or COMMIT failed: nothing was stored
        for job in batch:
            if job.error is None:
                job.error, job.value = exc, None
        if not isinstance(exc, Exception):
            raise


def _run(job: _Job, *, savepoint: bool) -> None:
    _local.events = job.events
    try:
        if not savepoint:
            job.value = job.work()
            return
        try:
            with transaction.atomic(), translation.override(job.language):
                job.value = job.work()
        except Exception as exc:  # this submit fails alone; the others go on
            job.error, job.events[:] = exc, []
    finally:
        _local.events = None


_group = _GroupCommit()


def submit(work: Callable[[], T]) -> T:
    """Run `work` (a submit's reads and writes) in a committed write transaction; returns its
    value once committed. On SQLite outside a transaction, with the submits arriving meanwhile."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            return work()
    return _group.run(work)
