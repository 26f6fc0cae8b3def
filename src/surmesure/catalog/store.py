"""The ``items`` table. Functions take a connection first and never commit."""

from __future__ import annotations

import sqlalchemy as sa

from surmesure.db import JsonText, metadata

__all__ = ["items"]

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
