"""The filter-bubble monitor: how narrow the lists people were shown have become, week
by week, per person and overall. Pure (NumPy); the metrics are the offline
evaluation's (``recommendations.evaluate``), applied to what was actually shown.

What was shown comes from the answers of ``/v1/recommendations`` the platform logs
(``recommendations_shown``), and from events that carry a list: ``Product List Viewed``
(Segment's e-commerce spec: ``properties.products[].product_id``), ``Placement Viewed``
or ``Recommendations Viewed`` with ``properties.items`` (ids, or objects with an
``id``/``item_id``/``product_id``/``sku``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from surmesure.recommendations.evaluate import intra_list_diversity, novelty

__all__ = ["SHOWN_EVENTS", "Shown", "bubble_report", "list_metrics", "shown_lists", "week_of"]

SHOWN_EVENTS = ("Product List Viewed", "Placement Viewed", "Recommendations Viewed")
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
_MONDAY_MS = -3 * _DAY_MS  # 1970-01-01 was a Thursday
_ID_KEYS = ("product_id", "item_id", "id", "sku")


@dataclass(frozen=True)
class Shown:
    """One list shown to one person at one time."""

    person: str
    at_ms: int
    items: tuple[str, ...]


def week_of(at_ms: int) -> str:
    """The Monday (UTC) starting the week of ``at_ms``, as ``YYYY-MM-DD``."""
    start = (at_ms - _MONDAY_MS) // _WEEK_MS * _WEEK_MS + _MONDAY_MS
    return datetime.fromtimestamp(start / 1000, UTC).date().isoformat()


def _item_id(entry: Any) -> str | None:
    if isinstance(entry, str | int) and not isinstance(entry, bool):
        return str(entry)
    if isinstance(entry, Mapping):
        for key in _ID_KEYS:
            value = entry.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def shown_lists(person: str, at_ms: int, body: bytes | str) -> list[Shown]:
    """The list an event reports as shown (none when it carries no items)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    props = data.get("properties") if isinstance(data, Mapping) else None
    if not isinstance(props, Mapping):
        return []
    entries = props.get("items", props.get("products"))
    if not isinstance(entries, list):
        return []
    ids = [i for i in (_item_id(e) for e in entries[:200]) if i is not None]
    return [Shown(person, at_ms, tuple(dict.fromkeys(ids)))] if ids else []


def list_metrics(
    lists: Sequence[Sequence[int]],
    item_categories: np.ndarray[Any, np.dtype[np.int64]],
    popularity: np.ndarray[Any, np.dtype[np.int64]],
    n_people: int,
    n_categories: int,
) -> dict[str, float | int | None]:
    """Intra-list diversity (share of item pairs of different categories, mean over
    lists), category entropy of everything shown (normalized to [0, 1] by the
    catalogue's number of categories), category coverage, and novelty (mean
    ``-log2`` of the share of people shown each item)."""
    if not lists:
        return {
            "lists": 0,
            "items": 0,
            "diversity": None,
            "entropy": None,
            "category_coverage": None,
            "novelty": None,
        }
    width = max(len(x) for x in lists)
    recs = np.full((len(lists), width), -1, dtype=np.int64)
    for row, items in enumerate(lists):
        recs[row, : len(items)] = items
    multi = recs[(recs >= 0).sum(axis=1) >= 2]
    diversity = intra_list_diversity(multi, item_categories=item_categories) if len(multi) else None
    shown = recs[recs >= 0]
    cats = item_categories[shown]
    counts = np.asarray(list(Counter(int(c) for c in cats if c >= 0).values()), dtype=np.float64)
    entropy = None
    if counts.size:
        p = counts / counts.sum()
        h = float(-(p * np.log(p)).sum())
        entropy = h / math.log(n_categories) if n_categories > 1 else 0.0
    return {
        "lists": len(lists),
        "items": int(np.unique(shown).size),
        "diversity": _r(diversity),
        "entropy": _r(entropy),
        "category_coverage": _r(counts.size / n_categories) if n_categories else None,
        "novelty": _r(novelty(recs, popularity, n_people)),
    }


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def bubble_report(
    lists: Iterable[Shown],
    categories: Mapping[str, str | None],
    *,
    person: str | None = None,
    min_diversity: float = 0.3,
) -> dict[str, Any]:
    """Per week overall (or for ``person``), and the people whose latest week's
    diversity is below ``min_diversity``."""
    shown = [s for s in lists if s.items]
    item_ids = sorted(set(categories) | {i for s in shown for i in s.items})
    index = {item: i for i, item in enumerate(item_ids)}
    names = sorted({c for c in categories.values() if c})
    cat_index = {c: i for i, c in enumerate(names)}
    item_categories = np.asarray(
        [cat_index.get(categories.get(item) or "", -1) for item in item_ids], dtype=np.int64
    )
    people_of_item: dict[int, set[str]] = {}
    for s in shown:
        for item in s.items:
            people_of_item.setdefault(index[item], set()).add(s.person)
    popularity = np.zeros(len(item_ids), dtype=np.int64)
    for i, seen_by in people_of_item.items():
        popularity[i] = len(seen_by)
    n_people = len({s.person for s in shown})

    def metrics(group: Sequence[Shown]) -> dict[str, Any]:
        return list_metrics(
            [[index[i] for i in s.items] for s in group], item_categories, popularity, n_people, len(names)
        )

    by_week: dict[str, list[Shown]] = {}
    by_person: dict[str, dict[str, list[Shown]]] = {}
    for s in sorted(shown, key=lambda s: (s.at_ms, s.person)):
        by_week.setdefault(week_of(s.at_ms), []).append(s)
        by_person.setdefault(s.person, {}).setdefault(week_of(s.at_ms), []).append(s)
    flagged = []
    for who, weeks in sorted(by_person.items()):
        ordered = sorted(weeks)
        latest = metrics(weeks[ordered[-1]])
        if latest["diversity"] is not None and latest["diversity"] < min_diversity:
            first = metrics(weeks[ordered[0]])
            flagged.append(
                {
                    "person": who,
                    "week": ordered[-1],
                    "diversity": latest["diversity"],
                    "first_week": ordered[0],
                    "first_diversity": first["diversity"],
                }
            )
    out: dict[str, Any] = {
        "threshold": min_diversity,
        "people": n_people,
        "lists": len(shown),
        "categories": len(names),
    }
    if person is not None:
        weeks = by_person.get(person, {})
        out.update(
            person=person,
            weeks=[{"week": w, **metrics(weeks[w])} for w in sorted(weeks)],
            flagged=any(f["person"] == person for f in flagged),
        )
        return out
    out.update(
        weeks=[
            {
                "week": w,
                "people": len({s.person for s in group}),
                **metrics(group),
                "catalogue_coverage": _r(len({i for s in group for i in s.items}) / len(categories))
                if categories
                else None,
            }
            for w, group in sorted(by_week.items())
        ],
        flagged=flagged,
    )
    return out
