"""A person's logged recommendation answers: export, erase, purge past their retention
(called by the privacy capability; connection first, never commits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import store

__all__ = ["TABLES", "erase_person", "export_person", "purge", "recent"]

#: the tables these functions cover (``privacy`` checks every table with a person column is covered)
TABLES = ("recommendations_shown",)


def export_person(
    conn: sa.Connection, profile_ids: Iterable[str], persons: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    rows = store.shown_of(conn, profile_ids, persons)
    return {"recommendations_shown": sorted(rows, key=lambda r: (r["at_ms"], r["shown_id"]))}


def erase_person(conn: sa.Connection, profile_ids: Iterable[str], persons: Iterable[str]) -> dict[str, int]:
    ids = sorted(r["shown_id"] for r in store.shown_of(conn, profile_ids, persons))
    s = store.shown
    for start in range(0, len(ids), 500):
        conn.execute(s.delete().where(s.c.shown_id.in_(ids[start : start + 500])))
    return {"recommendations_shown": len(ids)}


def purge(conn: sa.Connection, *, before_ms: int | None) -> dict[str, int]:
    """Answers logged before the cut-off (None: keep)."""
    if before_ms is None:
        return {}
    s = store.shown
    return {"recommendations_shown": int(conn.execute(s.delete().where(s.c.at_ms < before_ms)).rowcount or 0)}


def recent(
    conn: sa.Connection, profile_ids: Iterable[str], persons: Iterable[str], limit: int
) -> list[dict[str, Any]]:
    """The person's latest logged answers, newest first ("why am I seeing this")."""
    return store.shown_of(conn, profile_ids, persons, limit=limit)
