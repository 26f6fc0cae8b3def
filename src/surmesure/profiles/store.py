"""Tables of unified profiles and the identity graph. Connection first; never commits.

- ``identifiers``: each identifier (``type:value``) and the profile it belongs to.
- ``identity_links``: every pair of identifiers seen together, with the earliest
  event (time, messageId) that linked them and whether resolution accepted it.
- ``identity_separations``: "these identifiers must not be joined" (an undone merge).
- ``profiles``: traits, computed features (an order-free summary), consent.
- ``profile_merges``: the log of merges and splits, with what caused them.
- ``profiles_state``: the generation, bumped by every change to profiles or the
  identity graph made outside the pipeline (an undone merge...), so the pipeline
  worker knows its cache went stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.db import BigId, JsonText, metadata, upsert_rows

__all__ = [
    "bump_generation",
    "generation",
    "identifiers",
    "links",
    "merges",
    "profiles",
    "separations",
    "state",
]

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("profile_id", sa.String(32), primary_key=True),
    sa.Column("merged_into", sa.String(32), index=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("traits", JsonText, nullable=False),
    sa.Column("trait_times", JsonText, nullable=False),
    sa.Column("features", JsonText, nullable=False),
    sa.Column("consent", JsonText, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
)

identifiers = sa.Table(
    "identifiers",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True, doc="type:value; emails as a keyed hash."),
    sa.Column("id_type", sa.String(32), nullable=False),
    sa.Column("profile_id", sa.String(32), nullable=False, index=True),
    sa.Column("first_ms", sa.BigInteger, nullable=False),
)

links = sa.Table(
    "identity_links",
    metadata,
    sa.Column("key_a", sa.String(300), primary_key=True),
    sa.Column("key_b", sa.String(300), primary_key=True, index=True),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
)

separations = sa.Table(
    "identity_separations",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("sep_id", sa.String(32), nullable=False, index=True),
    sa.Column("side", sa.String(1), nullable=False),
    sa.Column("key", sa.String(300), nullable=False, index=True),
)

merges = sa.Table(
    "profile_merges",
    metadata,
    sa.Column("merge_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False, doc="merge or split"),
    sa.Column("kept_profile", sa.String(32), nullable=False, index=True),
    sa.Column("other_profile", sa.String(32), nullable=False, index=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("cause", JsonText, nullable=False),
    sa.Column("kept_keys", JsonText, nullable=False),
    sa.Column("other_keys", JsonText, nullable=False),
    sa.Column("undone_ms", sa.BigInteger),
)


state = sa.Table(
    "profiles_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

_GENERATION = "generation"


def generation(conn: sa.Connection, *, lock: bool = False) -> int:
    """The current generation; with ``lock``, on PostgreSQL, the row stays locked until
    the transaction ends, so no bump can slip in before it commits."""
    query = sa.select(state.c.value).where(state.c.name == _GENERATION)
    if lock:
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    return int(value or 0)


def bump_generation(conn: sa.Connection) -> None:
    """Tell the pipeline worker that profiles changed behind its back."""
    conn.execute(
        sa.text(
            "INSERT INTO profiles_state (name, value) VALUES (:name, 1)"
            " ON CONFLICT (name) DO UPDATE SET value = profiles_state.value + 1"
        ),
        {"name": _GENERATION},
    )


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def profile_of_keys(conn: sa.Connection, keys: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(keys))):
        for key, pid in conn.execute(
            sa.select(identifiers.c.key, identifiers.c.profile_id).where(identifiers.c.key.in_(chunk))
        ):
            found[key] = pid
    return found


def keys_of_profiles(conn: sa.Connection, profile_ids: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for chunk in _chunks(sorted(set(profile_ids))):
        for key, pid in conn.execute(
            sa.select(identifiers.c.key, identifiers.c.profile_id).where(identifiers.c.profile_id.in_(chunk))
        ):
            found.setdefault(pid, []).append(key)
    return found


def links_touching(conn: sa.Connection, keys: Iterable[str]) -> list[sa.Row[Any]]:
    out: list[sa.Row[Any]] = []
    ordered = sorted(set(keys))
    for chunk in _chunks(ordered):
        out.extend(conn.execute(sa.select(links).where(links.c.key_a.in_(chunk))))
        out.extend(conn.execute(sa.select(links).where(links.c.key_b.in_(chunk))))
    return out


def links_between(conn: sa.Connection, pairs: Iterable[tuple[str, str]]) -> list[sa.Row[Any]]:
    """The stored links among ``pairs`` (each ``(key_a, key_b)`` with ``key_a <= key_b``)."""
    wanted = set(pairs)
    out: list[sa.Row[Any]] = []
    for chunk in _chunks(sorted({a for a, _b in wanted})):
        rows = conn.execute(
            sa.select(links.c.key_a, links.c.key_b, links.c.ts_ms, links.c.message_id).where(
                links.c.key_a.in_(chunk)
            )
        )
        out.extend(row for row in rows if (row.key_a, row.key_b) in wanted)
    return out


def separations_touching(conn: sa.Connection, keys: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """sep_id -> [(side, key)] for every separation that names one of ``keys``."""
    sep_ids: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        sep_ids.update(
            conn.execute(sa.select(separations.c.sep_id).where(separations.c.key.in_(chunk))).scalars()
        )
    out: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(sorted(sep_ids)):
        for sep_id, side, key in conn.execute(
            sa.select(separations.c.sep_id, separations.c.side, separations.c.key).where(
                separations.c.sep_id.in_(chunk)
            )
        ):
            out.setdefault(sep_id, []).append((side, key))
    return out


def load_profiles(conn: sa.Connection, profile_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(profile_ids))):
        for row in conn.execute(sa.select(profiles).where(profiles.c.profile_id.in_(chunk))):
            out[row.profile_id] = dict(row._mapping)
    return out


def upsert_links(conn: sa.Connection, new_links: Iterable[Any]) -> None:
    """Record links; a pair seen again keeps its earliest (time, messageId)."""
    rows = [
        {"key_a": lk.a, "key_b": lk.b, "ts_ms": lk.ts_ms, "message_id": lk.message_id, "accepted": True}
        for lk in new_links
    ]
    earlier = (
        'excluded."ts_ms" < "identity_links"."ts_ms" OR (excluded."ts_ms" = "identity_links"."ts_ms"'
        ' AND excluded."message_id" < "identity_links"."message_id")'
    )
    upsert_rows(conn, links, rows, conflict=("key_a", "key_b"), update=("ts_ms", "message_id"), where=earlier)


def set_link_acceptance(conn: sa.Connection, pairs: Iterable[tuple[str, str]], accepted: bool) -> None:
    rows = [{"a": a, "b": b, "v": accepted} for a, b in pairs]
    if rows:
        conn.execute(
            links.update()
            .where(links.c.key_a == sa.bindparam("a"), links.c.key_b == sa.bindparam("b"))
            .values(accepted=sa.bindparam("v")),
            rows,
        )


def upsert_identifiers(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    upsert_rows(conn, identifiers, list(rows), conflict=("key",), update=("profile_id",))


_PROFILE_UPDATE = ("merged_into", "updated_ms", "traits", "trait_times", "features", "consent", "last_seq")


def save_profiles(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace whole profile rows, their JSON columns already text
    (``ProfileState.row``)."""
    upsert_rows(conn, profiles, list(rows), conflict=("profile_id",), update=_PROFILE_UPDATE)


def mark_merged(conn: sa.Connection, absorbed: Mapping[str, str], now_ms: int) -> None:
    rows = [{"p": pid, "into": into, "now": now_ms} for pid, into in absorbed.items()]
    if rows:
        conn.execute(
            profiles.update()
            .where(profiles.c.profile_id == sa.bindparam("p"))
            .values(merged_into=sa.bindparam("into"), updated_ms=sa.bindparam("now")),
            rows,
        )
