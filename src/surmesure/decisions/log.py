"""The decision log's group commit: the rows of concurrent decisions written in one
transaction.

Every decision writes its row (and, for a first A/B/n exposure, the exposures of the
person's identifiers). One write transaction per request made writers queue on the
store's write lock (on SQLite, one writer at a time): most of a decision's time was
spent waiting there. Here the requests that arrive while a transaction is being
written wait for the next one, which writes all of them; there is no thread of its
own — the first waiting request leads the next commit (a leader hands over to the
next waiter once its own rows are written, so nobody commits for others for long).

A request returns only once its rows are committed: caps and exposures read what the
earlier decisions wrote, as before. If a batch fails, its rows are written one by one,
so one bad row fails only its own request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.decisions import store

__all__ = ["DecisionLog"]

_MAX_BATCH = 256


@dataclass(eq=False)
class _Entry:
    row: dict[str, Any]
    exposure: tuple[str, list[str], dict[str, Any]] | None  # experiment, identifiers, exposure row
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class DecisionLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._pending: list[_Entry] = []
        self._busy = False  # a request is writing a batch

    def write(
        self, row: dict[str, Any], exposure: tuple[str, list[str], dict[str, Any]] | None = None
    ) -> None:
        """Log one decision (and its first exposures); returns once committed."""
        entry = _Entry(row, exposure)
        with self._lock:
            self._pending.append(entry)
            entry.lead = not self._busy
            self._busy = True
        if not entry.lead:
            entry.done.wait()
        if entry.lead:  # first in, or handed the lead by the previous writer
            self._commit_next()
        if entry.error is not None:
            raise entry.error

    def _commit_next(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        try:
            _write(self.engine, batch)
        except Exception:
            for entry in batch:  # one by one: a bad row fails only its own request
                try:
                    _write(self.engine, [entry])
                except Exception as error:
                    entry.error = error
        with self._lock:
            if self._pending:
                following = self._pending[0]
                following.lead = True
            else:
                following = None
                self._busy = False
        for entry in batch:
            entry.lead = False
            entry.done.set()
        if following is not None:
            following.done.set()


def _write(engine: sa.Engine, batch: list[_Entry]) -> None:
    with db.writing(engine) as conn:
        store.log_decisions(conn, [e.row for e in batch])
        for entry in batch:
            if entry.exposure is not None:
                experiment_id, identifiers, exposure = entry.exposure
                store.record_exposures(conn, experiment_id, identifiers, exposure)
