"""Ingestion use case: validate, quarantine, deduplicate, commit, then acknowledge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from surmesure.clock import Clock, utc_ms
from surmesure.events.domain import Limits, Normalized, Rejected, erased, normalize
from surmesure.events.spec import IngestResult, ItemError
from surmesure.events.writer import CONFLICT, DUPLICATE, GroupCommitWriter

__all__ = ["Ingestor"]


class Ingestor:
    """The face of the events capability to the HTTP edge and the CLI."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        limits: Limits,
        clock: Clock,
        screen: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> None:
        self.writer = writer
        self.limits = limits
        self.clock = clock
        #: the keyed hashes of erased identifiers a normalized row names (privacy's
        #: tombstones, supplied by the composition); such rows are quarantined
        self.screen = screen

    def prepare(
        self,
        items: list[Any],
        *,
        source: str,
        batch_sent_at: datetime | None = None,
        batch_context: dict[str, Any] | None = None,
        client_ip: str | None = None,
        gpc_header: bool = False,
        forced_type: str | None = None,
    ) -> tuple[list[dict[str, Any]], list[int], list[dict[str, Any]], list[ItemError]]:
        """Normalize every item: rows to store (with their indexes) and quarantine rows."""
        received = self.clock.now()
        received_ms = utc_ms(received)
        rows: list[dict[str, Any]] = []
        indexes: list[int] = []
        quarantined: list[dict[str, Any]] = []
        errors: list[ItemError] = []
        for index, item in enumerate(items):
            result = normalize(
                item,
                received=received,
                limits=self.limits,
                source=source,
                batch_sent_at=batch_sent_at,
                batch_context=batch_context,
                client_ip=client_ip,
                gpc_header=gpc_header,
                forced_type=forced_type,
            )
            if isinstance(result, Rejected) and self.limits.pseudonymizer is not None:
                # what the quarantine keeps is minimized and pseudonymized like an event
                result = replace(result, raw=self.limits.pseudonymizer.refused(item))
            elif isinstance(result, Normalized) and self.screen is not None:
                matched = self.screen(result.row)
                if matched:
                    result = erased(result.row["message_id"], result.row["type"], matched)
            if isinstance(result, Normalized):
                rows.append(result.row)
                indexes.append(index)
            else:
                quarantined.append(result.quarantine_row(received_ms=received_ms, source=source))
                errors.append(
                    ItemError(
                        index=index, messageId=result.message_id, code=result.code, message=result.reason
                    )
                )
        return rows, indexes, quarantined, errors

    async def ingest(self, items: list[Any], **options: Any) -> IngestResult:
        rows, _indexes, quarantined, errors = self.prepare(items, **options)
        statuses = await asyncio.wrap_future(self.writer.submit(rows, quarantined))
        return summarize(len(items), statuses, errors)

    def ingest_sync(self, items: list[Any], **options: Any) -> IngestResult:
        """Blocking variant for the CLI and imports."""
        rows, _indexes, quarantined, errors = self.prepare(items, **options)
        statuses = self.writer.submit(rows, quarantined).result()
        return summarize(len(items), statuses, errors)

    def quarantine_only(self, row: dict[str, Any]) -> None:
        """Keep a request that could not even be split into events (too large, not JSON)."""
        self.writer.submit([], [row]).result()


def summarize(received: int, statuses: list[str], errors: list[ItemError]) -> IngestResult:
    duplicates = statuses.count(DUPLICATE)
    conflicts = statuses.count(CONFLICT)
    accepted = len(statuses) - duplicates
    quarantined = len(errors)
    status = "ok" if not errors else ("partial" if statuses else "rejected")
    return IngestResult(
        success=not errors,
        received=received,
        accepted=accepted,
        duplicates=duplicates,
        conflicts=conflicts,
        quarantined=quarantined,
        errors=errors,
        status=status,
    )


def events_of(conn: Any, user_ids: list[str], anonymous_ids: list[str]) -> list[Any]:
    """Every stored event attributed to these identifiers, oldest first."""
    from surmesure.events import store

    return store.events_for_identifiers(conn, user_ids, anonymous_ids)


def events_page(
    conn: Any, user_ids: list[str], anonymous_ids: list[str], *, limit: int, before_seq: int | None
) -> list[Any]:
    """Newest first, at most ``limit``, older than ``before_seq``."""
    from surmesure.events import store

    return store.events_for_identifiers(
        conn, user_ids, anonymous_ids, limit=limit, before_seq=before_seq, newest_first=True
    )


def latest_stamp(conn: Any, user_ids: list[str], anonymous_ids: list[str]) -> tuple[int, int]:
    """The latest ``seq`` and the number of the events attributed to these identifiers."""
    from surmesure.events import store

    return store.latest_stamp(conn, user_ids, anonymous_ids)


def latest_bodies(
    conn: Any, user_ids: list[str], anonymous_ids: list[str], *, limit: int
) -> list[tuple[int, str]]:
    """``(seq, body)`` of the latest ``limit`` events attributed to these identifiers, newest first."""
    from surmesure.events import store

    return store.latest_bodies(conn, user_ids, anonymous_ids, limit=limit)


def events_named(conn: Any, names: list[str], *, after_seq: int = 0, limit: int = 5000) -> list[Any]:
    """Events named one of ``names`` after ``after_seq``, oldest first: batch readers
    (training) page through the log with the last row's ``seq``."""
    from surmesure.events import store

    return store.events_named(conn, names, after_seq=after_seq, limit=limit)
