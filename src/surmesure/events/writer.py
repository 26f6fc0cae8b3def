"""Group commit: one writer thread turns many concurrent requests into one transaction.

SQLite allows one writer at a time and every commit costs an fsync, so requests hand
their rows to this thread, which commits whatever has queued up in one transaction and
then answers each request. A request is acknowledged only after its rows are durable.
Each commit also writes one outbox entry naming its events, which the pipeline worker
(``surmesure/pipeline.py``) takes from there.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.errors import Overloaded, Unavailable
from surmesure.events import store
from surmesure.ids import new_id

__all__ = ["GroupCommitWriter", "Pending", "WriterStats", "outbox_events"]

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, CONFLICT = "accepted", "duplicate", "conflict"
_BACKLOG_EVERY_S = 0.1  # how often the writer reads the pipeline's backlog from the store


@dataclass(slots=True)
class Pending:
    """One request's rows, waiting for the next group commit."""

    rows: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    future: Future[list[str]] = field(default_factory=Future)


@dataclass(slots=True)
class WriterStats:
    """What the writer did since it started: how well requests share commits, and how
    long commits wait for the store's write lock (held by the pipeline worker too)."""

    groups: int = 0
    requests: int = 0
    events: int = 0
    lock_wait_s: float = 0.0
    write_s: float = 0.0  # from the lock to the end of the commit

    def as_dict(self) -> dict[str, float]:
        groups = max(self.groups, 1)
        return {
            "groups": self.groups,
            "requests_per_group": round(self.requests / groups, 2),
            "events_per_group": round(self.events / groups, 2),
            "lock_wait_ms_per_group": round(1000 * self.lock_wait_s / groups, 3),
            "write_ms_per_group": round(1000 * self.write_s / groups, 3),
        }


class GroupCommitWriter:
    """Commits queued rows in groups; refuses more when too much waits (here or in the pipeline)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_pending_events: int,
        max_group_events: int,
        max_pipeline_backlog: int,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        group_wait_s: float = 0.0,
    ) -> None:
        self._engine = engine
        self._max_pending = max_pending_events
        self._max_group = max_group_events
        self._max_backlog = max_pipeline_backlog
        self._linger = group_wait_s
        self._recent_groups: deque[int] = deque(maxlen=8)  # requests per group, latest
        self._now_ms = now_ms
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._pending_events = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # events committed and not yet through the pipeline, read from the store at most
        # every _BACKLOG_EVERY_S and counted up by each commit in between
        self._backlog = 0
        self._backlog_read = 0.0
        self.last_error: BaseException | None = None
        self.stats = WriterStats()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._read_backlog()
            self._thread = threading.Thread(target=self._run, name="surmesure-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    @property
    def backlog(self) -> int:
        """The pipeline's backlog as the writer last knew it (see ``Pipeline.backlog``)."""
        return self._backlog

    def queue_empty(self) -> bool:
        with self._lock:
            return self._pending_events == 0

    # -- producers -------------------------------------------------------------------
    def submit(self, rows: list[dict[str, Any]], quarantine: list[dict[str, Any]]) -> Future[list[str]]:
        """Queue rows; the future gets one status per row (accepted, duplicate, conflict)."""
        if self._thread is None or self._stopping.is_set():
            raise Unavailable("the event writer is not running", retry_after=1)
        n = len(rows) + len(quarantine)
        with self._lock:
            busy = self._pending_events > 0 and self._pending_events + n > self._max_pending
            if busy or self._backlog > self._max_backlog:
                raise Overloaded(
                    "too many events waiting to be stored; retry shortly",
                    retry_after=1,
                    pending=self._pending_events,
                    backlog=self._backlog,
                )
            self._pending_events += n
        pending = Pending(rows, quarantine)
        self._queue.put(pending)
        return pending.future

    # -- the writer thread -----------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            group = self._take_group(timeout=_BACKLOG_EVERY_S)
            if group:
                self._commit(group)
            if time.monotonic() - self._backlog_read >= _BACKLOG_EVERY_S:
                self._read_backlog()
        # drain: answer whatever is still queued so no client waits forever
        group = self._take_group(timeout=0.0)
        if group:
            self._commit(group)

    def _read_backlog(self) -> None:
        self._backlog_read = time.monotonic()
        try:
            with self._engine.connect() as conn:
                self._backlog = outbox_events(conn)
        except Exception:  # the store is down: commits will say so; keep the last value
            log.warning("could not read the pipeline backlog", exc_info=True)

    def _take_group(self, timeout: float) -> list[Pending]:
        group: list[Pending] = []
        size = 0
        try:
            first = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return group
        if first is None:
            return group
        group.append(first)
        size += len(first.rows)
        # Under concurrency (the last group held several requests), wait a moment for
        # more: a commit costs the same for one request as for fifty (an fsync, a
        # transaction), so small requests arriving together should share one. The wait
        # ends once as many requests are in as in the largest of the last groups: with N
        # clients waiting for their acks, no N+1th request is coming.
        expected = max(self._recent_groups, default=0)
        linger = self._linger if expected > 1 else 0.0
        deadline = time.monotonic() + linger
        while size < self._max_group:
            if len(group) >= expected:
                linger = 0.0
                deadline = 0.0
            try:
                wait = deadline - time.monotonic()
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # keep the stop signal for the loop
                break
            group.append(item)
            size += len(item.rows)
        self._recent_groups.append(len(group))
        return group

    def _commit(self, group: list[Pending]) -> None:
        try:
            statuses, accepted = self._write(group)
        except Exception as error:  # the store is down or full: answer 503, ack nothing
            if len(group) > 1:
                # one request's rows may be what the store refuses: commit each request
                # alone so the others are not held hostage by it
                for pending in group:
                    self._commit([pending])
                return
            log.exception("group commit failed")
            self.last_error = error
            self._release(group)
            group[0].future.set_exception(
                Unavailable("the event store is unavailable; nothing was stored", retry_after=2)
            )
        else:
            self._backlog += accepted
            self._release(group)
            for pending, status in zip(group, statuses, strict=True):
                pending.future.set_result(status)

    def _release(self, group: list[Pending]) -> None:
        with self._lock:
            self._pending_events -= sum(len(p.rows) + len(p.quarantine) for p in group)

    def _write(self, group: list[Pending]) -> tuple[list[list[str]], int]:
        commit_id = new_id()
        now = self._now_ms()
        started = time.perf_counter()
        with db.writing(self._engine) as conn:
            locked = time.perf_counter()
            known = store.existing_hashes(conn, (r["message_id"] for p in group for r in p.rows))
            to_insert: list[dict[str, Any]] = []
            conflict_rows: list[dict[str, Any]] = []
            statuses: list[list[str]] = []
            for pending in group:
                batch_status: list[str] = []
                for row in pending.rows:
                    hashes = known.get(row["message_id"])
                    if hashes is not None and row["content_hash"] in hashes:
                        batch_status.append(DUPLICATE)
                        continue
                    if hashes:
                        batch_status.append(CONFLICT)
                        conflict_rows.append(
                            {
                                "message_id": row["message_id"],
                                "content_hash": row["content_hash"],
                                "existing_hashes": ",".join(sorted(hashes)),
                                "received_ms": now,
                            }
                        )
                    else:
                        batch_status.append(ACCEPTED)
                    known.setdefault(row["message_id"], set()).add(row["content_hash"])
                    row["commit_id"] = commit_id
                    to_insert.append(row)
                statuses.append(batch_status)
            if to_insert:
                # A plain executemany: with RETURNING the insert costs about 1.5x the CPU on
                # SQLite and 3x on PostgreSQL (benchmarks/ingest.py). The outbox needs a seq
                # range holding every row of this commit: (max before, max after] does; under
                # SQLite's write lock it is exact, on PostgreSQL it may also span rows of a
                # concurrent commit, which read_commits leaves out by commit_id.
                first_seq = store.max_seq(conn) + 1
                store.insert_events(conn, to_insert)
                last_seq = store.max_seq(conn)
                store.add_outbox(conn, commit_id, first_seq, last_seq, now)
            store.insert_rows(conn, store.conflicts, conflict_rows)
            store.insert_rows(conn, store.quarantine, [q for p in group for q in p.quarantine])
        stats = self.stats
        stats.groups += 1
        stats.requests += len(group)
        stats.events += sum(len(p.rows) for p in group)
        stats.lock_wait_s += locked - started
        stats.write_s += time.perf_counter() - locked
        return statuses, len(to_insert)


def outbox_events(conn: sa.Connection) -> int:
    """Events committed and not yet through the pipeline."""
    value = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(store.outbox.c.last_seq - store.outbox.c.first_seq + 1), 0))
    ).scalar_one()
    return int(value)
