"""A person's segment memberships: export and erase (called by the privacy capability;
connection first, never commits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from surmesure.segments import store

__all__ = ["TABLES", "erase_person", "export_person"]

#: the tables these functions cover (``privacy`` checks every table with a person column is covered)
TABLES = ("segment_members",)


def export_person(conn: sa.Connection, profile_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    rows = store.members_of_profiles(conn, profile_ids)
    return {
        "segment_members": [
            {"segment_id": s, "profile_id": p, "since_ms": since, "value": value}
            for (s, p), (since, value) in sorted(rows.items())
        ]
    }


def erase_person(conn: sa.Connection, profile_ids: Iterable[str]) -> dict[str, int]:
    pids = sorted(set(profile_ids))
    n = len(store.members_of_profiles(conn, pids))
    store.delete_members_of_profiles(conn, pids)
    return {"segment_members": n}
