"""Tables of segments. Connection first; never commits.

- ``segments``: each definition (a segment, a score or a persona) as given, its kind
  and a version bumped by every change.
- ``segment_members``: who is in each segment, since when, and the value: ``true``
  for a segment, the points of a score, the name of a persona. A profile with no
  points and no persona has no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.db import JsonText, metadata

__all__ = [
    "definitions",
    "delete_members_of_profiles",
    "load_definitions",
    "members",
    "members_of_profiles",
    "save_definition",
    "write_members",
]

definitions = sa.Table(
    "segments",
    metadata,
    sa.Column("segment_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JsonText, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("segment_id", sa.String(64), primary_key=True),
    sa.Column("profile_id", sa.String(32), primary_key=True),
    sa.Column("since_ms", sa.BigInteger, nullable=False),
    sa.Column("value", JsonText, nullable=False),
    sa.Index("ix_segment_members_profile", "profile_id"),
)


def load_definitions(conn: sa.Connection) -> list[sa.Row[Any]]:
    return list(conn.execute(sa.select(definitions).order_by(definitions.c.segment_id)))


def save_definition(conn: sa.Connection, segment_id: str, kind: str, raw: Any, now_ms: int) -> int:
    """Insert or replace a definition; returns its new version."""
    row = conn.execute(
        sa.select(definitions.c.version, definitions.c.definition, definitions.c.kind).where(
            definitions.c.segment_id == segment_id
        )
    ).first()
    if row is None:
        conn.execute(
            definitions.insert().values(
                segment_id=segment_id,
                kind=kind,
                version=1,
                definition=raw,
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
        return 1
    if row.definition == raw and row.kind == kind:
        return int(row.version)
    version = int(row.version) + 1
    conn.execute(
        definitions.update()
        .where(definitions.c.segment_id == segment_id)
        .values(kind=kind, version=version, definition=raw, updated_ms=now_ms)
    )
    return version


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def members_of_profiles(
    conn: sa.Connection, profile_ids: Iterable[str]
) -> dict[tuple[str, str], tuple[int, Any]]:
    """(segment, profile) → (since, value) for these profiles."""
    out: dict[tuple[str, str], tuple[int, Any]] = {}
    for chunk in _chunks(sorted(set(profile_ids))):
        for row in conn.execute(sa.select(members).where(members.c.profile_id.in_(chunk))):
            out[(row.segment_id, row.profile_id)] = (row.since_ms, row.value)
    return out


def delete_members_of_profiles(conn: sa.Connection, profile_ids: Iterable[str]) -> None:
    for chunk in _chunks(sorted(set(profile_ids))):
        conn.execute(members.delete().where(members.c.profile_id.in_(chunk)))


def write_members(
    conn: sa.Connection,
    new: Mapping[tuple[str, str], Any],
    old: Mapping[tuple[str, str], tuple[int, Any]],
    now_ms: int,
) -> int:
    """Bring the rows of ``old`` in line with ``new``; returns how many rows changed.
    A row whose value is unchanged keeps its ``since``."""
    gone = [key for key in old if key not in new]
    added = [
        {"segment_id": s, "profile_id": p, "since_ms": now_ms, "value": v}
        for (s, p), v in new.items()
        if (s, p) not in old
    ]
    changed = [{"s": s, "p": p, "v": v} for (s, p), v in new.items() if (s, p) in old and old[(s, p)][1] != v]
    for s, p in gone:
        conn.execute(members.delete().where(members.c.segment_id == s, members.c.profile_id == p))
    if added:
        conn.execute(members.insert(), added)
    if changed:
        conn.execute(
            members.update()
            .where(members.c.segment_id == sa.bindparam("s"), members.c.profile_id == sa.bindparam("p"))
            .values(value=sa.bindparam("v"), since_ms=now_ms),
            changed,
        )
    return len(gone) + len(added) + len(changed)
