"""A person's data in the event log: export it, erase it, and purge what is too old.

The event log's tables are the events capability's own; the privacy capability calls
these functions (connection first, never commits) for every person it exports or
erases. An event belongs to a person through its identifiers: its ``userId``, or its
``anonymousId`` when it has none (as ``profiles`` reads it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure.events import store

__all__ = ["TABLES", "emails_in", "erase_person", "export_person", "first_received", "purge"]

#: the tables these functions cover (``privacy`` checks every table with a person column is covered)
TABLES = ("events", "event_quarantine", "event_conflicts")
_CHUNK = 500
_PURGE_RANGE = 20_000
#: events are stamped on arrival and numbered at commit: a later ``seq`` never has a
#: received time older than this before an earlier one (the purge stops past it)
_ARRIVAL_SLACK_MS = 3_600_000


def _rows(conn: sa.Connection, users: Sequence[str], anons: Sequence[str]) -> list[sa.Row[Any]]:
    return store.events_for_identifiers(conn, list(users), list(anons))


def emails_in(bodies: Iterable[dict[str, Any]]) -> set[str]:
    """Email addresses as sent in events' ``traits`` and ``context.traits`` (the store keeps
    them only hashed as identifiers; quarantined copies are found by the raw address)."""
    found: set[str] = set()
    for body in bodies:
        context = body.get("context")
        for traits in (body.get("traits"), context.get("traits") if isinstance(context, dict) else None):
            if isinstance(traits, dict) and isinstance(traits.get("email"), str) and traits["email"].strip():
                found.add(traits["email"].strip())
    return found


def _quarantined(conn: sa.Connection, values: Iterable[str]) -> list[sa.Row[Any]]:
    """Quarantine rows whose raw text holds one of ``values`` as a JSON string."""
    q = store.quarantine
    found: dict[int, sa.Row[Any]] = {}
    for value in sorted(set(values)):
        needle = orjson.dumps(value).decode().lower()
        query = sa.select(q).where(sa.func.lower(q.c.raw).contains(needle, autoescape=True))
        for row in conn.execute(query):
            found[row.id] = row
    return [found[i] for i in sorted(found)]


def _conflicts(conn: sa.Connection, message_ids: Sequence[str]) -> list[sa.Row[Any]]:
    c = store.conflicts
    out: list[sa.Row[Any]] = []
    ids = sorted(set(message_ids))
    for start in range(0, len(ids), _CHUNK):
        out.extend(conn.execute(sa.select(c).where(c.c.message_id.in_(ids[start : start + _CHUNK]))))
    return out


def export_person(
    conn: sa.Connection, users: Sequence[str], anons: Sequence[str], values: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """The person's events (bodies parsed), the quarantined items naming one of
    ``values`` (their identifiers and addresses as sent) and the messageId conflicts of
    their events."""
    events = _rows(conn, users, anons)
    bodies = [orjson.loads(r.body) for r in events]
    wanted = set(values) | set(users) | set(anons) | emails_in(bodies)
    return {
        "events": [
            {**{k: v for k, v in r._mapping.items() if k != "body"}, "body": body}
            for r, body in zip(events, bodies, strict=True)
        ],
        "event_quarantine": [dict(r._mapping) for r in _quarantined(conn, wanted)],
        "event_conflicts": [dict(r._mapping) for r in _conflicts(conn, [r.message_id for r in events])],
    }


def erase_person(
    conn: sa.Connection, users: Sequence[str], anons: Sequence[str], values: Iterable[str]
) -> dict[str, int]:
    """Delete the person's events, their conflicts and every quarantined item naming them;
    rows deleted per table."""
    events = _rows(conn, users, anons)
    wanted = set(values) | set(users) | set(anons) | emails_in(orjson.loads(r.body) for r in events)
    quarantined = [r.id for r in _quarantined(conn, wanted)]
    conflicts = [r.id for r in _conflicts(conn, [r.message_id for r in events])]
    seqs = [int(r.seq) for r in events]
    for start in range(0, len(seqs), _CHUNK):
        conn.execute(store.events.delete().where(store.events.c.seq.in_(seqs[start : start + _CHUNK])))
    for start in range(0, len(quarantined), _CHUNK):
        chunk = quarantined[start : start + _CHUNK]
        conn.execute(store.quarantine.delete().where(store.quarantine.c.id.in_(chunk)))
    for start in range(0, len(conflicts), _CHUNK):
        conn.execute(
            store.conflicts.delete().where(store.conflicts.c.id.in_(conflicts[start : start + _CHUNK]))
        )
    return {"events": len(seqs), "event_quarantine": len(quarantined), "event_conflicts": len(conflicts)}


def _purge_events(conn: sa.Connection, before_ms: int) -> int:
    """Events received before ``before_ms``, walked by ``seq`` ranges (``received_ms`` has
    no index: the hot insert path pays for none). Stops at the first range whose events
    all arrived well after the cut-off."""
    e = store.events
    low = conn.execute(sa.select(sa.func.min(e.c.seq))).scalar()
    high = conn.execute(sa.select(sa.func.max(e.c.seq))).scalar()
    if low is None or high is None:
        return 0
    deleted = 0
    start = int(low)
    while start <= int(high):
        end = start + _PURGE_RANGE
        in_range = sa.and_(e.c.seq >= start, e.c.seq < end)
        oldest = conn.execute(sa.select(sa.func.min(e.c.received_ms)).where(in_range)).scalar()
        if oldest is not None:
            if int(oldest) >= before_ms + _ARRIVAL_SLACK_MS:
                break
            result = conn.execute(e.delete().where(in_range, e.c.received_ms < before_ms))
            deleted += int(result.rowcount or 0)
        start = end
    return deleted


def purge(
    conn: sa.Connection,
    *,
    events_before_ms: int | None,
    quarantine_before_ms: int | None,
    conflicts_before_ms: int | None,
    dead_letters_before_ms: int | None,
) -> dict[str, int]:
    """Delete what was received before each cut-off (None: keep); rows deleted per table."""
    out: dict[str, int] = {}
    if events_before_ms is not None:
        out["events"] = _purge_events(conn, events_before_ms)
    for name, table, column, cut in (
        ("event_quarantine", store.quarantine, "received_ms", quarantine_before_ms),
        ("event_conflicts", store.conflicts, "received_ms", conflicts_before_ms),
        ("pipeline_dead_letters", store.dead_letters, "at_ms", dead_letters_before_ms),
    ):
        if cut is not None:
            out[name] = int(conn.execute(table.delete().where(table.c[column] < cut)).rowcount or 0)
    return out


def first_received(conn: sa.Connection, users: Sequence[str], anons: Sequence[str]) -> int | None:
    """When the person's earliest stored event arrived (None: they have none)."""
    rows = _rows(conn, users, anons)
    return min((int(r.received_ms) for r in rows), default=None)
