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

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.db import JsonText, metadata

__all__ = ["log_shown", "shown", "shown_of"]

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
