"""Tables of the event log: events, quarantine, messageId conflicts and the outbox.

Functions take a connection first and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.db import BigId, fetch, marks, metadata

__all__ = [
    "add_outbox",
    "conflicts",
    "count_events",
    "count_quarantine",
    "dead_letter",
    "dead_letters",
    "delete_outbox",
    "events",
    "events_for_identifiers",
    "events_named",
    "existing_hashes",
    "insert_events",
    "insert_rows",
    "latest_bodies",
    "latest_stamp",
    "outbox",
    "pending_outbox",
    "quarantine",
    "read_commits",
]

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("content_hash", sa.String(32), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("event", sa.String(255)),
    sa.Column("anonymous_id", sa.String(255)),
    sa.Column("user_id", sa.String(255)),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("commit_id", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("message_id", "content_hash"),
    # (anonymous_id, user_id): "this visitor's events that carry no user id" is one index range
    sa.Index(None, "anonymous_id", "user_id"),
    sa.Index(None, "user_id"),
)

quarantine = sa.Table(
    "event_quarantine",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("received_ms", sa.BigInteger, nullable=False, index=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("code", sa.String(64), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message_id", sa.String(255)),
    sa.Column("raw_size", sa.Integer, nullable=False),
    sa.Column("raw", sa.Text, nullable=False, doc="The item as received (first 64 KiB)."),
)

conflicts = sa.Table(
    "event_conflicts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(255), nullable=False, index=True),
    sa.Column("content_hash", sa.String(32), nullable=False),
    sa.Column("existing_hashes", sa.Text, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
)

outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("commit_id", sa.String(32), nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)


dead_letters = sa.Table(
    "pipeline_dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("commit_id", sa.String(32), nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)


def existing_hashes(conn: sa.Connection, message_ids: Iterable[str]) -> dict[str, set[str]]:
    """For each already stored messageId among ``message_ids``, its content hashes."""
    found: dict[str, set[str]] = {}
    ids = list(set(message_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = f"SELECT message_id, content_hash FROM events WHERE message_id IN ({marks(conn, len(chunk))})"  # noqa: S608
        for mid, chash in conn.exec_driver_sql(query, tuple(chunk)):
            found.setdefault(mid, set()).add(chash)
    return found


_EVENT_COLUMNS = tuple(c.name for c in events.columns if c.name != "seq")
_SQLITE_ROWS_PER_STATEMENT = 500  # x 11 columns: far below SQLite's 32,766 bound parameters


def insert_events(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (every column but ``seq``), the hot path of ingestion.

    Every column here is a plain string or integer, so SQLAlchemy's per-row parameter
    processing (a fifth of the writer thread's time) is skipped: on SQLite the rows go
    to the driver's ``executemany`` as tuples; on PostgreSQL through ``COPY``, which
    costs the server a fraction of row-by-row INSERTs.
    """
    if not rows:
        return
    values = [tuple(row[c] for c in _EVENT_COLUMNS) for row in rows]
    names = ", ".join(_EVENT_COLUMNS)
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        return
    if conn.dialect.name != "sqlite":
        conn.execute(events.insert(), list(rows))
        return
    # Multi-row VALUES, not executemany: the driver releases the GIL around every row it
    # steps through, and in a server whose event loop wants the GIL too each release
    # could cost a thread switch (the writer's commits were slowed several times over).
    one = "(" + ", ".join("?" for _ in _EVENT_COLUMNS) + ")"
    for start in range(0, len(values), _SQLITE_ROWS_PER_STATEMENT):
        chunk = values[start : start + _SQLITE_ROWS_PER_STATEMENT]
        sql = f"INSERT INTO events ({names}) VALUES {', '.join([one] * len(chunk))}"  # noqa: S608 - names from the table
        conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), list(rows))


def max_seq(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM events").scalar_one())


def add_outbox(conn: sa.Connection, commit_id: str, first_seq: int, last_seq: int, created_ms: int) -> None:
    """The outbox entry of one group commit (ADR 0005)."""
    conn.exec_driver_sql(
        f"INSERT INTO event_outbox (commit_id, first_seq, last_seq, created_ms) VALUES ({marks(conn, 4)})",  # noqa: S608
        (commit_id, first_seq, last_seq, created_ms),
    )


def pending_outbox(conn: sa.Connection, limit: int) -> list[sa.Row[Any]]:
    """The oldest outbox entries (one pipeline worker at a time takes them)."""
    query = sa.select(outbox).order_by(outbox.c.id).limit(limit)
    return list(conn.execute(query))


def dead_letter(conn: sa.Connection, entry: Any, error: str, at_ms: int) -> None:
    """Set an outbox entry aside: its events stay stored, the pipeline moves on."""
    conn.execute(
        dead_letters.insert(),
        {
            "commit_id": entry.commit_id,
            "first_seq": entry.first_seq,
            "last_seq": entry.last_seq,
            "error": error[:4000],
            "at_ms": at_ms,
        },
    )
    delete_outbox(conn, [entry.id])


def read_commits(conn: sa.Connection, entries: Sequence[Any]) -> list[sa.Row[Any]]:
    """The events of these outbox entries, in ``seq`` order: one range scan.

    What the pipeline needs: ``seq``, ``timestamp_ms``, ``event`` and ``body``. On
    PostgreSQL concurrent commits may interleave their ``seq`` ranges; rows of commits
    not asked for are left out by ``commit_id``.
    """
    if not entries:
        return []
    wanted = {entry.commit_id for entry in entries}
    query = (
        sa.select(events.c.seq, events.c.timestamp_ms, events.c.event, events.c.commit_id, events.c.body)
        .where(
            events.c.seq.between(min(e.first_seq for e in entries), max(e.last_seq for e in entries))
        )
        .order_by(events.c.seq)
    )
    return [row for row in conn.execute(query) if row.commit_id in wanted]


def delete_outbox(conn: sa.Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(outbox.delete().where(outbox.c.id.in_(list(ids))))


def events_for_identifiers(
    conn: sa.Connection,
    user_ids: Sequence[str],
    anonymous_ids: Sequence[str],
    *,
    limit: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
) -> list[sa.Row[Any]]:
    """Events attributed to a person: by user id, or by anonymous id when they carry none."""
    clauses: list[sa.ColumnElement[bool]] = []
    if user_ids:
        clauses.append(events.c.user_id.in_(list(user_ids)))
    if anonymous_ids:
        clauses.append(sa.and_(events.c.user_id.is_(None), events.c.anonymous_id.in_(list(anonymous_ids))))
    if not clauses:
        return []
    query = sa.select(events).where(sa.or_(*clauses))
    if before_seq is not None:
        query = query.where(events.c.seq < before_seq)
    query = query.order_by(events.c.seq.desc() if newest_first else events.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def _where_person(
    conn: sa.Connection, user_ids: Sequence[str], anonymous_ids: Sequence[str]
) -> tuple[str, tuple[str, ...]]:
    """The condition of :func:`events_for_identifiers` as driver SQL and its parameters
    (a read per request: no statement to build and compile)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    clauses = []
    if user_ids:
        clauses.append(f"user_id IN ({', '.join([mark] * len(user_ids))})")
    if anonymous_ids:
        clauses.append(f"(user_id IS NULL AND anonymous_id IN ({', '.join([mark] * len(anonymous_ids))}))")
    return " OR ".join(clauses), (*user_ids, *anonymous_ids)


def latest_stamp(
    conn: sa.Connection, user_ids: Sequence[str], anonymous_ids: Sequence[str]
) -> tuple[int, int]:
    """The latest ``seq`` and the number of a person's events ((0, 0) without any): a
    change of either means their events changed (one index range each, no body read)."""
    where, params = _where_person(conn, user_ids, anonymous_ids)
    if not where:
        return 0, 0
    sql = f"SELECT MAX(seq), COUNT(*) FROM events WHERE {where}"  # noqa: S608 - placeholders only
    [(latest, count)] = fetch(conn, sql, params)
    return int(latest or 0), int(count)


def latest_bodies(
    conn: sa.Connection, user_ids: Sequence[str], anonymous_ids: Sequence[str], *, limit: int
) -> list[tuple[int, str]]:
    """``(seq, body)`` of a person's latest ``limit`` events, newest first (the rows of
    :func:`events_for_identifiers` with ``newest_first``, two columns only)."""
    where, params = _where_person(conn, user_ids, anonymous_ids)
    if not where or limit <= 0:
        return []
    sql = f"SELECT seq, body FROM events WHERE {where} ORDER BY seq DESC LIMIT {int(limit)}"  # noqa: S608
    return [(int(seq), str(body)) for seq, body in fetch(conn, sql, params)]


def events_named(
    conn: sa.Connection, names: Sequence[str], *, after_seq: int = 0, limit: int = 5000
) -> list[sa.Row[Any]]:
    """Events named one of ``names`` with ``seq > after_seq``, oldest first (a batch
    reader pages with the last ``seq``): ``seq``, ids, ``timestamp_ms``, ``event``, ``body``."""
    query = (
        sa.select(
            events.c.seq,
            events.c.user_id,
            events.c.anonymous_id,
            events.c.timestamp_ms,
            events.c.event,
            events.c.body,
        )
        .where(events.c.seq > after_seq, events.c.event.in_(list(names)))
        .order_by(events.c.seq)
        .limit(limit)
    )
    return list(conn.execute(query))


def count_events(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def count_quarantine(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar_one())
