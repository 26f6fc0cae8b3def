"""Read-only views of the tables audits read. Connection first; never writes.

The decision log belongs to ``decisions``; the audit reads it as an analytics job
would, through a lightweight view of the columns it needs (no import of that
capability's store, no migration).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["decisions_of"]

_decisions = sa.table(
    "decisions",
    sa.column("decision_id"),
    sa.column("at_ms"),
    sa.column("placement_id"),
    sa.column("person"),
    sa.column("profile_id"),
    sa.column("experiment_id"),
    sa.column("arm"),
    sa.column("variant"),
    sa.column("suppressed"),
)


def decisions_of(
    conn: sa.Connection,
    *,
    placement_id: str | None = None,
    experiment_id: str | None = None,
    since_ms: int | None = None,
) -> list[sa.Row[Any]]:
    """Logged decisions (delivered and suppressed) of a placement or an experiment, oldest first."""
    d = _decisions
    query = sa.select(d)
    if placement_id is not None:
        query = query.where(d.c.placement_id == placement_id)
    if experiment_id is not None:
        query = query.where(d.c.experiment_id == experiment_id)
    if since_ms is not None:
        query = query.where(d.c.at_ms >= since_ms)
    return list(conn.execute(query.order_by(d.c.at_ms, d.c.decision_id)))
