"""The ``items`` table. Functions take a connection first and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from surmesure.db import JsonText, dumps, metadata

__all__ = ["count_items", "existing_ids", "get_item", "items", "list_items", "stamp", "upsert_items"]

items = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", sa.String(255), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("image", sa.Text),
    sa.Column("price", sa.Float),
    sa.Column("currency", sa.String(3)),
    sa.Column("category_path", JsonText, nullable=False, doc="List of categories, root first."),
    sa.Column("category", sa.String(255), index=True, doc="Leaf category (last of the path)."),
    sa.Column("brand", sa.String(255), index=True),
    sa.Column("tags", JsonText, nullable=False),
    sa.Column("keywords", JsonText, nullable=False),
    sa.Column("language", sa.String(16)),
    sa.Column("stock", sa.Integer),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("published_ms", sa.BigInteger),
    sa.Column("attributes", JsonText, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

#: rows per statement when reading ids back (SQLite's bound-parameter limit)
_CHUNK = 500
_UPDATED_ON_CONFLICT = tuple(c.name for c in items.columns if c.name not in ("item_id", "created_ms"))


def existing_ids(conn: sa.Connection, item_ids: Iterable[str]) -> set[str]:
    """The subset of ``item_ids`` already stored."""
    ordered = sorted(set(item_ids))
    found: set[str] = set()
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        found.update(conn.execute(sa.select(items.c.item_id).where(items.c.item_id.in_(chunk))).scalars())
    return found


def _insert(conn: sa.Connection) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(items)
    if name == "sqlite":
        return sqlite.insert(items)
    raise NotImplementedError(f"the catalogue upsert supports sqlite and postgresql, not {name}")


def upsert_items(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert ``rows``, or update every column but ``created_ms`` where the id exists;
    return the ids that were inserted.

    Two statements, both writes: ``INSERT ... ON CONFLICT DO NOTHING RETURNING item_id``
    tells created from updated exactly, then ``INSERT ... ON CONFLICT (item_id) DO
    UPDATE`` for the others. Starting with a write matters on SQLite: a transaction
    that reads first and writes later fails at once (SQLITE_BUSY_SNAPSHOT, no busy
    wait) when another writer, such as the event writer, committed in between.
    Ids must be unique within ``rows``: PostgreSQL refuses to update a row twice in
    one statement.
    """
    if not rows:
        return set()
    values = [dict(row) for row in rows]
    insert = _insert(conn).on_conflict_do_nothing(index_elements=[items.c.item_id])
    created = set(conn.execute(insert.returning(items.c.item_id), values).scalars())
    rest = [row for row in values if row["item_id"] not in created]
    if rest:
        upsert = _insert(conn)
        upsert = upsert.on_conflict_do_update(
            index_elements=[items.c.item_id],
            set_={column: upsert.excluded[column] for column in _UPDATED_ON_CONFLICT},
        )
        conn.execute(upsert, rest)
    return created


def get_item(conn: sa.Connection, item_id: str) -> sa.RowMapping | None:
    return conn.execute(sa.select(items).where(items.c.item_id == item_id)).mappings().first()


def _filters(
    *, type: str | None, category: Sequence[str] | None, available: bool | None
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if type is not None:
        where.append(items.c.type == type)
    if category:
        # category_path is stored as compact JSON (orjson); the text of a path that
        # starts with [A, B] begins with '["A","B",' or equals '["A","B"]'. substr keeps
        # the match exact and case-sensitive on both backends (LIKE is not on SQLite).
        text = sa.type_coerce(items.c.category_path, sa.Text)
        whole = dumps(list(category))
        prefix = whole[:-1] + ","
        where.append(sa.or_(text == whole, sa.func.substr(text, 1, len(prefix)) == prefix))
    if available is not None:
        where.append(items.c.available == available)
    return where


def list_items(
    conn: sa.Connection,
    *,
    limit: int,
    after_id: str | None = None,
    type: str | None = None,
    category: Sequence[str] | None = None,
    available: bool | None = None,
) -> list[sa.RowMapping]:
    """Up to ``limit`` items ordered by id, after ``after_id`` (keyset pagination).

    ``category`` is a path prefix: ``["Home"]`` matches every item under Home.
    ``available`` keeps only available (True) or unavailable (False) items.
    """
    query = sa.select(items).where(*_filters(type=type, category=category, available=available))
    if after_id is not None:
        query = query.where(items.c.item_id > after_id)
    return list(conn.execute(query.order_by(items.c.item_id).limit(limit)).mappings())


def count_items(
    conn: sa.Connection,
    *,
    type: str | None = None,
    category: Sequence[str] | None = None,
    available: bool | None = None,
) -> int:
    query = sa.select(sa.func.count()).select_from(items)
    query = query.where(*_filters(type=type, category=category, available=available))
    return int(conn.execute(query).scalar_one())


def stamp(conn: sa.Connection) -> tuple[int, int]:
    """(number of items, latest ``updated_ms``): changes whenever the catalogue does."""
    row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(items.c.updated_ms), 0))).one()
    return int(row[0]), int(row[1])
