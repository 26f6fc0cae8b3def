"""Every capability's export and erasure of one person, as an explicit list.

A handler names the tables it covers; :func:`uncovered` compares them with the schema
(every table of ``db.metadata`` with a column of ``domain.PERSON_COLUMNS``, or listed in
``PERSON_CONTENT``), so a new table holding people and no handler fails a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from surmesure.decisions import rights as decisions_rights
from surmesure.events import rights as events_rights
from surmesure.privacy import store as privacy_store
from surmesure.privacy.domain import PERSON_COLUMNS, PERSON_CONTENT, Person
from surmesure.profiles import rights as profiles_rights
from surmesure.recommendations import rights as recommendations_rights
from surmesure.segments import rights as segments_rights

__all__ = ["HANDLERS", "Handler", "person_tables", "uncovered"]

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Handler:
    name: str
    tables: tuple[str, ...]
    export: Callable[[sa.Connection, Person], Rows]
    erase: Callable[[sa.Connection, Person], dict[str, int]]


def _events_export(conn: sa.Connection, p: Person) -> Rows:
    return events_rights.export_person(conn, p.user_ids, p.anonymous_ids, p.values)


def _events_erase(conn: sa.Connection, p: Person) -> dict[str, int]:
    return events_rights.erase_person(conn, p.user_ids, p.anonymous_ids, p.values)


# order matters for erasure: the events first (their bodies tell the addresses to look
# for in the quarantine), the profiles last (their erasure bumps the generation)
HANDLERS: tuple[Handler, ...] = (
    Handler("events", events_rights.TABLES, _events_export, _events_erase),
    Handler(
        "decisions",
        decisions_rights.TABLES,
        lambda conn, p: decisions_rights.export_person(conn, p.profile_ids, p.keys),
        lambda conn, p: decisions_rights.erase_person(conn, p.profile_ids, p.keys),
    ),
    Handler(
        "recommendations",
        recommendations_rights.TABLES,
        lambda conn, p: recommendations_rights.export_person(conn, p.profile_ids, p.cache_keys()),
        lambda conn, p: recommendations_rights.erase_person(conn, p.profile_ids, p.cache_keys()),
    ),
    Handler(
        "segments",
        segments_rights.TABLES,
        lambda conn, p: segments_rights.export_person(conn, p.profile_ids),
        lambda conn, p: segments_rights.erase_person(conn, p.profile_ids),
    ),
    Handler(
        "profiles",
        profiles_rights.TABLES,
        lambda conn, p: profiles_rights.export_person(conn, p.profile_ids, p.keys),
        lambda conn, p: profiles_rights.erase_person(conn, p.profile_ids, p.keys),
    ),
)

#: tables that name people only as keyed hashes, by design (the tombstones) or that
#: hold no person at all although a column name says so
EXEMPT = frozenset({privacy_store.tombstones.name})


def person_tables(metadata: sa.MetaData) -> set[str]:
    """Tables of the schema that hold a person's data."""
    return {
        t.name
        for t in metadata.tables.values()
        if t.name not in EXEMPT
        and (t.name in PERSON_CONTENT or any(c.name in PERSON_COLUMNS for c in t.columns))
    }


def uncovered(metadata: sa.MetaData, handlers: tuple[Handler, ...] = HANDLERS) -> list[str]:
    """Tables holding people that no handler exports and erases."""
    covered = {t for h in handlers for t in h.tables}
    return sorted(person_tables(metadata) - covered)
