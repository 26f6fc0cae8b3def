"""Logging the answers shown to people, off the request path.

A request puts one compact row on a queue (a few microseconds) and returns; a thread
of its own writes what has queued in one transaction every ``_EVERY_S`` (or at 500
rows), so the recommendation path never waits on the store's write lock. Rows still
queued when the server stops are written by :meth:`ShownLog.stop`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.ids import new_id

from . import store

__all__ = ["ShownLog", "compact_items", "shown_since"]

log = logging.getLogger(__name__)

_EVERY_S = 0.2
_BATCH = 500


def compact_items(items: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """``[[item_id, code, about], ...]`` from an answer's items: what the reason names."""
    out: list[list[Any]] = []
    for entry in items:
        reason = entry.get("reason") or {}
        about = reason.get("item_id") or reason.get("category") or reason.get("brand")
        out.append([entry.get("id", entry.get("item_id")), reason.get("code"), about])
    return out


class ShownLog:
    """The queue and its writer thread (started at the first row)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def write(
        self,
        *,
        at_ms: int,
        person: str,
        profile_id: str | None,
        context: str,
        personalized: bool,
        reason: str | None,
        items: Sequence[Mapping[str, Any]],
    ) -> None:
        row = {
            "shown_id": new_id(), "at_ms": at_ms, "person": person[:300], "profile_id": profile_id,
            "context": context, "personalized": personalized, "reason": reason,
            "items": compact_items(items),
        }  # fmt: skip
        self._queue.put(row)
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="surmesure-shown-log", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(_EVERY_S)
            self.flush()

    def flush(self) -> int:
        """Write every queued row now; how many."""
        written = 0
        while True:
            rows: list[dict[str, Any]] = []
            while len(rows) < _BATCH:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not rows:
                return written
            try:
                with db.writing(self.engine) as conn:
                    store.log_shown(conn, rows)
                written += len(rows)
            except Exception:
                log.exception("recommendations: %d shown answers could not be logged", len(rows))
                return written

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()


def shown_since(conn: sa.Connection, since_ms: int) -> Iterator[tuple[str | None, str, int, list[str]]]:
    """Every answer logged at or after ``since_ms``, oldest first: ``(profile id or None,
    person key, at_ms, item ids)`` — what the audits read of the log."""
    return store.shown_since(conn, since_ms)
