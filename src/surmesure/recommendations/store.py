"""The log of recommendation answers shown to people. Connection first; never commits.

- ``recommendations_shown``: one compact row per answer of ``/v1/recommendations`` that
  named a person: who (the key the person was asked by — their profile id, else
  ``type:value`` — and their live profile), when, the context, whether their history
  was used (and why not), and per item its id, reason code and what the reason is about
  (the person's item, a category, a brand). It is what "why am I seeing this" reads
  back; its rows are exported, erased and purged with the decision log
  (``recommendations/rights.py``, ``retention.decisions_days``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.db import JsonText, metadata

__all__ = ["log_shown", "shown", "shown_of", "shown_since"]

shown = sa.Table(
    "recommendations_shown",
    metadata,
    sa.Column("shown_id", sa.String(32), primary_key=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("person", sa.String(300), nullable=False),
    sa.Column("profile_id", sa.String(32)),
    sa.Column("context", sa.String(16), nullable=False),
    sa.Column("personalized", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    # [[item_id, reason code, what the reason is about (an item id, category, brand) or null], ...]
    sa.Column("items", JsonText, nullable=False),
    sa.Index("ix_recommendations_shown_person_at", "person", "at_ms"),
    sa.Index("ix_recommendations_shown_profile_at", "profile_id", "at_ms"),
    sa.Index("ix_recommendations_shown_at", "at_ms"),
)

_CHUNK = 500


def log_shown(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(shown), list(rows))


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def shown_of(
    conn: sa.Connection, profile_ids: Iterable[str], persons: Iterable[str], *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The rows naming these profiles or person keys, newest first (at most ``limit``)."""
    found: dict[str, dict[str, Any]] = {}
    for column, values in ((shown.c.profile_id, profile_ids), (shown.c.person, persons)):
        for chunk in _chunks(values):
            query = sa.select(shown).where(column.in_(chunk)).order_by(shown.c.at_ms.desc())
            if limit is not None:
                query = query.limit(limit)
            found.update((r["shown_id"], dict(r)) for r in conn.execute(query).mappings())
    rows = sorted(found.values(), key=lambda r: (r["at_ms"], r["shown_id"]), reverse=True)
    return rows if limit is None else rows[:limit]


def shown_since(
    conn: sa.Connection, since_ms: int, *, page: int = 5000
) -> Iterator[tuple[str | None, str, int, list[str]]]:
    """Every answer logged at or after ``since_ms``, oldest first, as ``(profile id or
    None, person key, at_ms, item ids)`` (pages of ``page`` rows, by time then id)."""
    last_at, last_id = since_ms, ""
    while True:
        query = (
            sa.select(shown.c.shown_id, shown.c.at_ms, shown.c.person, shown.c.profile_id, shown.c["items"])
            .where(
                sa.or_(
                    shown.c.at_ms > last_at, sa.and_(shown.c.at_ms == last_at, shown.c.shown_id > last_id)
                )
            )
            .order_by(shown.c.at_ms, shown.c.shown_id)
            .limit(page)
        )
        rows = list(conn.execute(query))
        for shown_id, at_ms, person, profile_id, items in rows:
            yield profile_id, str(person), int(at_ms), [str(entry[0]) for entry in items or ()]
            last_at, last_id = int(at_ms), str(shown_id)
        if len(rows) < page:
            return
