"""A person's data in the profiles and the identity graph: find it, export it, erase it,
and purge the merge log past its retention.

The privacy capability calls these functions (connection first, never commits). An
erasure bumps the generation (``store.bump_generation``) in the same transaction, so
the pipeline worker drops its cached identity graph and profiles (ADR 0007).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.profiles import store

__all__ = ["TABLES", "erase_person", "export_person", "keys_of", "profile_of_key", "profiles_of", "purge"]

#: the tables these functions cover (``privacy`` checks every table with a person column is covered)
TABLES = ("profiles", "identifiers", "identity_links", "identity_separations", "profile_merges")
_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def profiles_of(conn: sa.Connection, profile_id: str) -> set[str]:
    """The live profile and every profile merged into it (at any depth)."""
    found = {profile_id}
    frontier = {profile_id}
    p = store.profiles
    while frontier:
        nxt: set[str] = set()
        for chunk in _chunks(frontier):
            nxt.update(conn.execute(sa.select(p.c.profile_id).where(p.c.merged_into.in_(chunk))).scalars())
        frontier = nxt - found
        found |= frontier
    return found


def keys_of(conn: sa.Connection, profile_ids: Iterable[str]) -> set[str]:
    """The identifier keys (``type:value``) of these profiles."""
    return {k for keys in store.keys_of_profiles(conn, profile_ids).values() for k in keys}


def _merges(conn: sa.Connection, pids: Sequence[str]) -> list[sa.Row[Any]]:
    m = store.merges
    out: dict[str, sa.Row[Any]] = {}
    for chunk in _chunks(pids):
        query = sa.select(m).where(sa.or_(m.c.kept_profile.in_(chunk), m.c.other_profile.in_(chunk)))
        for row in conn.execute(query):
            out[row.merge_id] = row
    return sorted(out.values(), key=lambda r: (r.at_ms, r.merge_id))


def _links(conn: sa.Connection, keys: Sequence[str]) -> list[sa.Row[Any]]:
    unique = {(r.key_a, r.key_b): r for r in store.links_touching(conn, keys)}
    return [unique[pair] for pair in sorted(unique)]


def _separations(conn: sa.Connection, keys: Sequence[str]) -> list[sa.Row[Any]]:
    s = store.separations
    out: list[sa.Row[Any]] = []
    for chunk in _chunks(keys):
        out.extend(conn.execute(sa.select(s).where(s.c.key.in_(chunk)).order_by(s.c.id)))
    return out


def export_person(
    conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    pids, ks = sorted(set(profile_ids)), sorted(set(keys))
    rows = store.load_profiles(conn, pids)
    ident = store.identifiers
    identifiers: list[dict[str, Any]] = []
    for chunk in _chunks(ks):
        identifiers.extend(
            dict(r._mapping) for r in conn.execute(sa.select(ident).where(ident.c.key.in_(chunk)))
        )
    return {
        "profiles": [rows[p] for p in pids if p in rows],
        "identifiers": sorted(identifiers, key=lambda r: r["key"]),
        "identity_links": [dict(r._mapping) for r in _links(conn, ks)],
        "identity_separations": [dict(r._mapping) for r in _separations(conn, ks)],
        "profile_merges": [dict(r._mapping) for r in _merges(conn, pids)],
    }


def erase_person(conn: sa.Connection, profile_ids: Iterable[str], keys: Iterable[str]) -> dict[str, int]:
    """Delete the profiles, their identifiers, every link and separation naming one of
    the keys and the merges they took part in; bump the generation. Rows per table."""
    pids, ks = sorted(set(profile_ids)), sorted(set(keys))
    counts = dict.fromkeys(TABLES, 0)
    merges = [r.merge_id for r in _merges(conn, pids)]
    for chunk in _chunks(merges):
        counts["profile_merges"] += _deleted(
            conn, store.merges.delete().where(store.merges.c.merge_id.in_(chunk))
        )
    for chunk in _chunks(ks):
        links = store.links
        counts["identity_links"] += _deleted(
            conn, links.delete().where(sa.or_(links.c.key_a.in_(chunk), links.c.key_b.in_(chunk)))
        )
        seps = store.separations
        counts["identity_separations"] += _deleted(conn, seps.delete().where(seps.c.key.in_(chunk)))
        ident = store.identifiers
        counts["identifiers"] += _deleted(conn, ident.delete().where(ident.c.key.in_(chunk)))
    for chunk in _chunks(pids):
        ident = store.identifiers
        counts["identifiers"] += _deleted(conn, ident.delete().where(ident.c.profile_id.in_(chunk)))
        counts["profiles"] += _deleted(
            conn, store.profiles.delete().where(store.profiles.c.profile_id.in_(chunk))
        )
    store.bump_generation(conn)
    return counts


def _deleted(conn: sa.Connection, statement: Any) -> int:
    return int(conn.execute(statement).rowcount or 0)


def purge(conn: sa.Connection, *, merges_before_ms: int | None) -> dict[str, int]:
    """Delete merge log rows older than the cut-off (None: keep): such merges can no
    longer be undone. Profiles resolve through ``merged_into`` all the same."""
    if merges_before_ms is None:
        return {}
    m = store.merges
    return {"profile_merges": _deleted(conn, m.delete().where(m.c.at_ms < merges_before_ms))}


def profile_of_key(conn: sa.Connection, key: str) -> str | None:
    """The profile an identifier key belongs to (None: unknown)."""
    return store.profile_of_keys(conn, [key]).get(key)
