"""The catalogue as the recommender sees it: an :class:`ItemTable` aligned with a
model's columns, and what a response shows of each item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from surmesure.catalog.domain import ItemPublic
from surmesure.catalog.service import list_items
from surmesure.clock import utc_ms

from .items import ItemTable

__all__ = ["display", "item_table", "read_catalogue"]

_PAGE = 5000


def read_catalogue(engine: sa.Engine | sa.Connection) -> dict[str, ItemPublic]:
    """Every item, by id."""
    found: dict[str, ItemPublic] = {}
    after: str | None = None
    while True:
        page = list_items(engine, limit=_PAGE, after=after)
        found.update((item.id, item) for item in page.items)
        if page.next_after is None:
            return found
        after = page.next_after


def _labels(item: ItemPublic) -> list[str]:
    """Labels for the rule filters: the item's tags and ``attributes.labels``."""
    extra = item.attributes.get("labels")
    labels = list(item.tags)
    if isinstance(extra, list):
        labels.extend(str(x) for x in extra if isinstance(x, str | int))
    return labels


def _group(item: ItemPublic) -> str | None:
    """The product a variant belongs to: ``attributes.group_id`` or ``attributes.parent_id``."""
    for key in ("group_id", "parent_id"):
        value = item.attributes.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def item_table(item_ids: Sequence[str], items: Mapping[str, ItemPublic]) -> ItemTable:
    """The table of ``item_ids`` (a model's columns); an id no longer in the catalogue is
    out of stock, so the default rules never show it."""
    records: dict[str, dict[str, Any]] = {}
    for item_id in item_ids:
        item = items.get(item_id)
        if item is None:
            records[item_id] = {"in_stock": False}
            continue
        created = item.published_at or item.created_at
        records[item_id] = {
            "title": item.title,
            "category_path": item.category_path,
            "brand": item.brand,
            "tags": item.tags,
            "keywords": item.keywords,
            "labels": _labels(item),
            "price": item.price,
            "in_stock": item.available,
            "group_id": _group(item),
            "created_ms": utc_ms(created),
        }
    return ItemTable.from_records(list(item_ids), records)


def display(item: ItemPublic | None) -> dict[str, Any]:
    """What a response carries of an item besides its id."""
    if item is None:
        return {}
    return {
        "title": item.title,
        "url": item.url,
        "image": item.image,
        "price": item.price,
        "currency": item.currency,
        "category": item.category,
        "brand": item.brand,
        "available": item.available,
    }
