"""A person's decisions and experiment exposures: export, erase, and purge past their
retention (called by the privacy capability; connection first, never commits).

A decision names its person by the identifier key it was asked with (``person``) and by
the live profile (``profile_id``); an exposure by each identifier key of the person.
Frequency caps count logged decisions, so erasing the decisions erases the counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from surmesure.decisions import store

__all__ = ["TABLES", "erase_person", "export_person", "purge", "recent"]

#: the tables these functions cover (``privacy`` checks every table with a person column is covered)
TABLES = ("decisions", "exposures")
_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _decisions(conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str]) -> list[sa.Row[Any]]:
    d = store.decisions
    found: dict[str, sa.Row[Any]] = {}
    for chunk in _chunks(profile_ids):
        found.update((r.decision_id, r) for r in conn.execute(sa.select(d).where(d.c.profile_id.in_(chunk))))
    for chunk in _chunks(keys):
        found.update((r.decision_id, r) for r in conn.execute(sa.select(d).where(d.c.person.in_(chunk))))
    return sorted(found.values(), key=lambda r: (r.at_ms, r.decision_id))


def _exposures(conn: sa.Connection, keys: Iterable[str]) -> list[sa.Row[Any]]:
    e = store.exposures
    out: list[sa.Row[Any]] = []
    for chunk in _chunks(keys):
        out.extend(conn.execute(sa.select(e).where(e.c.identifier.in_(chunk))))
    return sorted(out, key=lambda r: (r.experiment_id, r.identifier))


def export_person(
    conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    keys = list(keys)
    return {
        "decisions": [dict(r._mapping) for r in _decisions(conn, profile_ids, keys)],
        "exposures": [dict(r._mapping) for r in _exposures(conn, keys)],
    }


def erase_person(conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    ids = [r.decision_id for r in _decisions(conn, profile_ids, keys)]
    d, e = store.decisions, store.exposures
    for chunk in _chunks(ids):
        conn.execute(d.delete().where(d.c.decision_id.in_(chunk)))
    exposures = 0
    for chunk in _chunks(keys):
        exposures += int(conn.execute(e.delete().where(e.c.identifier.in_(chunk))).rowcount or 0)
    return {"decisions": len(ids), "exposures": exposures}


def purge(conn: sa.Connection, *, decisions_before_ms: int | None) -> dict[str, int]:
    """Decisions and exposures older than the cut-off (None: keep)."""
    if decisions_before_ms is None:
        return {}
    d, e = store.decisions, store.exposures
    return {
        "decisions": int(conn.execute(d.delete().where(d.c.at_ms < decisions_before_ms)).rowcount or 0),
        "exposures": int(conn.execute(e.delete().where(e.c.at_ms < decisions_before_ms)).rowcount or 0),
    }


def recent(
    conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str], limit: int
) -> list[dict[str, Any]]:
    """The person's latest decisions, newest first ("why am I seeing this")."""
    d = store.decisions
    found: dict[str, dict[str, Any]] = {}
    for column, values in ((d.c.profile_id, profile_ids), (d.c.person, keys)):
        for chunk in _chunks(values):
            query = sa.select(d).where(column.in_(chunk)).order_by(d.c.at_ms.desc()).limit(limit)
            found.update((r["decision_id"], dict(r)) for r in conn.execute(query).mappings())
    return sorted(found.values(), key=lambda r: (r["at_ms"], r["decision_id"]), reverse=True)[:limit]
