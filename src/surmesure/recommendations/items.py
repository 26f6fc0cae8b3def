"""The item table: what the models and the serving rules know of each item, as arrays
aligned with the columns of the interaction matrix (index ``i`` is ``item_ids[i]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ItemTable"]


def _strings(values: Sequence[str | None] | None, n: int) -> npt.NDArray[np.str_]:
    if values is None:
        return np.full(n, "", dtype=str)
    return np.array(["" if v is None else str(v) for v in values], dtype=str).reshape(n)


@dataclass(frozen=True)
class ItemTable:
    """Per-item attributes; every sequence has one entry per item column.

    ``category`` is the leaf category (the one used for spread, popularity per category
    and reasons); ``categories`` are all the categories an item belongs to (the
    multi-category filter). Empty strings mean unknown; a NaN price is unknown.
    """

    item_ids: npt.NDArray[Any]
    title: npt.NDArray[np.str_]
    category: npt.NDArray[np.str_]
    brand: npt.NDArray[np.str_]
    tags: tuple[tuple[str, ...], ...]
    keywords: npt.NDArray[np.str_]
    categories: tuple[frozenset[str], ...]
    labels: tuple[frozenset[str], ...]
    price: npt.NDArray[np.float64]
    in_stock: npt.NDArray[np.bool_]
    group_id: npt.NDArray[np.str_]
    created_ms: npt.NDArray[np.int64]
    _codes: dict[str, npt.NDArray[np.intp]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        item_ids: Sequence[Any] | npt.NDArray[Any],
        *,
        title: Sequence[str | None] | None = None,
        category: Sequence[str | None] | None = None,
        brand: Sequence[str | None] | None = None,
        tags: Sequence[Sequence[str]] | None = None,
        keywords: Sequence[str | None] | None = None,
        categories: Sequence[Sequence[str]] | None = None,
        labels: Sequence[Sequence[str]] | None = None,
        price: Sequence[float | None] | None = None,
        in_stock: Sequence[bool] | None = None,
        group_id: Sequence[str | None] | None = None,
        created_ms: Sequence[int | None] | None = None,
    ) -> ItemTable:
        """A table from columns; a missing column means unknown for every item
        (in stock, no price, each item its own group, created at time 0)."""
        ids = np.asarray(item_ids)
        n = len(ids)
        cat = _strings(category, n)
        groups = _strings(group_id, n)
        groups = np.where(groups == "", ids.astype(str), groups)
        return cls(
            item_ids=ids,
            title=np.where(_strings(title, n) == "", ids.astype(str), _strings(title, n)),
            category=cat,
            brand=_strings(brand, n),
            tags=tuple(tuple(t) for t in tags) if tags is not None else ((),) * n,
            keywords=_strings(keywords, n),
            categories=(
                tuple(frozenset(c) for c in categories)
                if categories is not None
                else tuple(frozenset([c]) if c else frozenset() for c in cat)
            ),
            labels=tuple(frozenset(x) for x in labels) if labels is not None else (frozenset(),) * n,
            price=np.array([np.nan if p is None else p for p in price], dtype=float)
            if price is not None
            else np.full(n, np.nan),
            in_stock=np.asarray(in_stock, dtype=bool) if in_stock is not None else np.ones(n, dtype=bool),
            group_id=groups,
            created_ms=np.array([0 if c is None else c for c in created_ms], dtype=np.int64)
            if created_ms is not None
            else np.zeros(n, dtype=np.int64),
        )

    @classmethod
    def from_records(cls, item_ids: Sequence[Any], records: Mapping[Any, Mapping[str, Any]]) -> ItemTable:
        """A table aligned with ``item_ids`` from catalogue-like dicts keyed by item id
        (``title``, ``category`` or ``category_path``, ``brand``, ``tags``, ``keywords``,
        ``labels``, ``price``, ``in_stock``, ``group_id``/``parent_id``, ``created_ms``)."""
        rows = [records.get(i, {}) for i in item_ids]

        def path(r: Mapping[str, Any]) -> list[str]:
            value = r.get("category_path") or ([r["category"]] if r.get("category") else [])
            return [str(v) for v in value]

        return cls.build(
            item_ids,
            title=[r.get("title") for r in rows],
            category=[(path(r) or [""])[-1] for r in rows],
            brand=[r.get("brand") for r in rows],
            tags=[list(r.get("tags") or ()) for r in rows],
            keywords=[
                " ".join(r.get("keywords") or ())
                if isinstance(r.get("keywords"), list)
                else r.get("keywords")
                for r in rows
            ],
            categories=[path(r) for r in rows],
            labels=[list(r.get("labels") or ()) for r in rows],
            price=[r.get("price") for r in rows],
            in_stock=[bool(r.get("in_stock", True)) for r in rows],
            group_id=[r.get("group_id") or r.get("parent_id") for r in rows],
            created_ms=[r.get("created_ms") for r in rows],
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def codes(self, column: str) -> npt.NDArray[np.intp]:
        """Integer codes of a string column (``category``, ``brand``, ``group_id``):
        equal strings share a code; an empty string is -1."""
        if column not in self._codes:
            values = getattr(self, column)
            uniques, inverse = np.unique(values, return_inverse=True)
            codes = inverse.reshape(-1).astype(np.intp)
            if len(uniques) and uniques[0] == "":
                codes = codes - 1  # "" sorts first: it becomes -1, the others 0..k-1
            self._codes[column] = codes
        return self._codes[column]
