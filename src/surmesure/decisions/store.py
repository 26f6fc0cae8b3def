"""Tables of decisions. Connection first; never commits.

- ``placements`` and ``experiments``: definitions as given, with a version bumped by
  every change (applying the same definition again changes nothing).
- ``decisions``: every decision, delivered or suppressed: who (the identifier key
  asked by, and the live profile), the placement and its channel, the experiment arm,
  the variant, the **propensity** the variant was chosen with, and the reason; for a
  bandit's decision, ``bandit``: every arm's probability and, for a contextual one, the
  feature names and the vector it decided on (what off-policy evaluation needs).
- ``exposures``: the first exposure of each identifier to each experiment (the arm the
  person keeps; see ``experiments/assignment.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from surmesure.db import JsonText, metadata

__all__ = [
    "count_decisions",
    "decisions",
    "decisions_of_experiment",
    "experiments",
    "exposures",
    "exposures_of",
    "load_definitions",
    "log_decision",
    "log_decisions",
    "placements",
    "record_exposures",
    "save_definition",
]

placements = sa.Table(
    "placements",
    metadata,
    sa.Column("placement_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JsonText, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JsonText, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("placement_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("person", sa.String(300), nullable=False),
    sa.Column("profile_id", sa.String(32)),
    sa.Column("experiment_id", sa.String(64)),
    sa.Column("arm", sa.String(64)),
    sa.Column("variant", sa.String(64)),
    sa.Column("propensity", sa.Float, nullable=False),
    sa.Column("personalized", sa.Boolean, nullable=False),
    sa.Column("suppressed", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("bandit", JsonText),
    sa.Index("ix_decisions_person_at", "person", "at_ms"),
    sa.Index("ix_decisions_placement_at", "placement_id", "at_ms"),
    sa.Index("ix_decisions_experiment", "experiment_id"),
)

exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("identifier", sa.String(300), primary_key=True),
    sa.Column("arm", sa.String(64)),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("decision_id", sa.String(32), nullable=False),
    sa.Column("propensity", sa.Float, nullable=False),
)


def _table(kind: str) -> tuple[sa.Table, sa.Column[Any]]:
    table = placements if kind == "placement" else experiments
    return table, table.c[f"{kind}_id"]


def load_definitions(conn: sa.Connection, kind: str) -> list[sa.Row[Any]]:
    table, key = _table(kind)
    return list(conn.execute(sa.select(table).order_by(key)))


def save_definition(
    conn: sa.Connection, kind: str, object_id: str, raw: Any, now_ms: int
) -> tuple[int, bool]:
    """Insert or replace; the version moves only when the definition changed."""
    table, key = _table(kind)
    row = conn.execute(sa.select(table.c.version, table.c.definition).where(key == object_id)).first()
    if row is None:
        conn.execute(
            sa.insert(table).values(
                {key.name: object_id, "version": 1, "definition": raw, "updated_ms": now_ms}
            )
        )
        return 1, True
    if row.definition == raw:
        return int(row.version), False
    version = int(row.version) + 1
    conn.execute(
        sa.update(table).where(key == object_id).values(version=version, definition=raw, updated_ms=now_ms)
    )
    return version, True


def log_decision(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(sa.insert(decisions).values(row))


def log_decisions(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Several decisions at once (rows with the same keys)."""
    if rows:
        conn.execute(sa.insert(decisions), list(rows))


def count_decisions(
    conn: sa.Connection,
    *,
    since_ms: int,
    persons: Sequence[str] | None = None,
    placement_id: str | None = None,
    channel: str | None = None,
) -> int:
    """Delivered (not suppressed) decisions since ``since_ms`` matching every filter given."""
    d = decisions
    query = sa.select(sa.func.count()).select_from(d).where(d.c.at_ms >= since_ms, d.c.suppressed.is_(None))
    if persons is not None:
        query = query.where(d.c.person.in_(list(persons)))
    if placement_id is not None:
        query = query.where(d.c.placement_id == placement_id)
    if channel is not None:
        query = query.where(d.c.channel == channel)
    return int(conn.execute(query).scalar_one())


def exposures_of(conn: sa.Connection, experiment_id: str, identifiers: Iterable[str]) -> list[sa.Row[Any]]:
    wanted = sorted(set(identifiers))
    if not wanted:
        return []
    e = exposures
    return list(
        conn.execute(sa.select(e).where(e.c.experiment_id == experiment_id, e.c.identifier.in_(wanted)))
    )


def record_exposures(
    conn: sa.Connection, experiment_id: str, identifiers: Iterable[str], row: dict[str, Any]
) -> None:
    """The first exposure of each identifier not yet recorded (existing rows are kept)."""
    wanted = sorted(set(identifiers))
    if not wanted:
        return
    rows = [{**row, "experiment_id": experiment_id, "identifier": i} for i in wanted]
    if conn.dialect.name == "postgresql":  # a row already there (an earlier exposure) stays
        conn.execute(pg_insert(exposures).on_conflict_do_nothing(), rows)
    elif conn.dialect.name == "sqlite":
        conn.execute(sqlite_insert(exposures).on_conflict_do_nothing(), rows)
    else:
        known = {r.identifier for r in exposures_of(conn, experiment_id, wanted)}
        new = [r for r in rows if r["identifier"] not in known]
        if new:
            conn.execute(sa.insert(exposures), new)


def decisions_of_experiment(conn: sa.Connection, experiment_id: str) -> list[sa.Row[Any]]:
    d = decisions
    query = sa.select(d).where(d.c.experiment_id == experiment_id, d.c.suppressed.is_(None))
    return list(conn.execute(query.order_by(d.c.at_ms, d.c.decision_id)))
