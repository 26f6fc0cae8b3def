"""Tables of privacy. Connection first; never commits.

- ``privacy_tombstones``: the keyed hash (HMAC-SHA256 with ``identity.hash_key``) of
  every erased identifier key (``type:value``), never the identifier itself; collection
  quarantines events that carry one.
- ``privacy_erasures``: the log of erasures: when, and how many rows of each table went
  (no identifier of the person).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from surmesure.db import JsonText, insert_ignore, metadata

__all__ = ["add_tombstones", "erasures", "log_erasure", "tombstone_hashes", "tombstone_stamp", "tombstones"]

tombstones = sa.Table(
    "privacy_tombstones",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True, doc="HMAC-SHA256 of an erased identifier key, hex."),
    sa.Column("erased_ms", sa.BigInteger, nullable=False),
)

erasures = sa.Table(
    "privacy_erasures",
    metadata,
    sa.Column("erasure_id", sa.String(32), primary_key=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("report", JsonText, nullable=False, doc="Rows deleted per table; no identifier."),
)


def add_tombstones(conn: sa.Connection, hashes: Iterable[str], at_ms: int) -> None:
    rows = [{"hash": h, "erased_ms": at_ms} for h in sorted(set(hashes))]
    if rows:
        conn.execute(insert_ignore(conn, tombstones), rows)


def tombstone_hashes(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(tombstones.c.hash)).scalars())


def tombstone_stamp(conn: sa.Connection) -> tuple[int, int]:
    """(count, latest time) of the tombstones: a change means new erasures."""
    count, latest = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(tombstones.c.erased_ms), 0))
    ).one()
    return int(count), int(latest)


def log_erasure(conn: sa.Connection, erasure_id: str, at_ms: int, report: dict[str, Any]) -> None:
    conn.execute(erasures.insert().values(erasure_id=erasure_id, at_ms=at_ms, report=report))
