"""Why an item is shown: a reason code with data (the person's item, a category, a
brand) attached to every recommended item, and its phrasing for a shopper."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .items import ItemTable

__all__ = ["CODES", "Reason", "ReasonContext", "explain", "phrase"]

#: every reason code, and the phrase pattern of each ({item}, {category}, {brand})
CODES: dict[str, str] = {
    "viewed": "Because you viewed {item}",
    "carted": "Because you added {item} to your cart",
    "bought": "Because you bought {item}",
    "bought_together": "Often bought together with {item}",
    "viewed_together": "Often viewed together with {item}",
    "similar": "Similar to {item}",
    "buy_again": "Time to buy {item} again?",
    "new_from_brand": "New from {brand}, a brand you like",
    "popular_in_category": "Popular in {category} right now",
    "popular": "Popular right now",
    "explore": "Something new to discover",
    "pinned": "Featured",
}
_BY_KIND = {"purchase": "bought", "add_to_cart": "carted", "view": "viewed"}
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Reason:
    """A reason code (a key of :data:`CODES`) and what it names."""

    code: str
    item: int | None = None  # an item index: the person's item the reason is about
    category: str | None = None
    brand: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown reason code {self.code!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def phrase(reason: Reason, table: ItemTable | None = None) -> str:
    """The reason in words a shopper understands ("Because you viewed Blue mug")."""
    title = ""
    if reason.item is not None:
        title = str(table.title[reason.item]) if table is not None else f"item {reason.item}"
    return CODES[reason.code].format(item=title, category=reason.category or "", brand=reason.brand or "")


#: ``similarity(candidates, history)`` → a (len(candidates), len(history)) matrix
Similarity = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], npt.NDArray[np.floating[Any]]]


@dataclass(frozen=True)
class ReasonContext:
    """What is known of the person and the placement, to explain recommendations.

    ``history`` are the person's item indices (most recent last) and ``history_kinds``
    the strongest event kind on each (``view``, ``add_to_cart``, ``purchase``);
    ``context_items`` the item page's item or the cart (reasons "bought together");
    ``trending`` a boolean per item (trending: popular right now); ``favourite_brand`` the brand
    the person interacts with most.
    """

    history: Sequence[int] = ()
    history_kinds: Sequence[str] = ()
    context_items: Sequence[int] = ()
    together_code: str = "bought_together"
    similarity: Similarity | None = None
    favourite_brand: str | None = None
    trending: npt.NDArray[np.bool_] | None = None
    replenishable: npt.NDArray[np.bool_] | None = None
    now_ms: int = 0
    new_within_days: float = 30.0
    table: ItemTable | None = field(default=None, repr=False)


def explain(items: npt.ArrayLike, context: ReasonContext) -> list[Reason]:
    """A reason for each item, the most specific that holds:

    1. the item is one the person bought and buys again (replenishable) → ``buy_again``;
    2. new (created within ``new_within_days``) from the favourite brand → ``new_from_brand``;
    3. most similar to a context item (item page, cart) → ``bought_together``;
    4. most similar to an item of the person's history → ``viewed``/``carted``/``bought``;
    5. trending in its category → ``popular_in_category``; else ``popular``.
    """
    ids = np.asarray(items, dtype=np.intp).reshape(-1)
    table = context.table
    history = np.asarray(context.history, dtype=np.intp)
    kinds = list(context.history_kinds) or ["view"] * len(history)
    bought = {int(h) for h, k in zip(history, kinds, strict=False) if k == "purchase"}
    by_history = _best_match(ids, history, context.similarity)
    by_context = _best_match(ids, np.asarray(context.context_items, dtype=np.intp), context.similarity)
    reasons: list[Reason] = []
    for n, item in enumerate(ids):
        i = int(item)
        category = str(table.category[i]) if table is not None and table.category[i] else None
        brand = str(table.brand[i]) if table is not None and table.brand[i] else None
        created = int(table.created_ms[i]) if table is not None else 0
        if i in bought and context.replenishable is not None and context.replenishable[i]:
            reasons.append(Reason("buy_again", item=i))
        elif (
            brand is not None
            and brand == context.favourite_brand
            and created > 0
            and context.now_ms - created <= context.new_within_days * _DAY_MS
        ):
            reasons.append(Reason("new_from_brand", brand=brand))
        elif by_context[n] >= 0:
            reasons.append(Reason(context.together_code, item=int(context.context_items[by_context[n]])))
        elif by_history[n] >= 0:
            j = by_history[n]
            reasons.append(Reason(_BY_KIND.get(kinds[j], "viewed"), item=int(history[j])))
        elif category is not None and (context.trending is None or context.trending[i]):
            reasons.append(Reason("popular_in_category", category=category))
        else:
            reasons.append(Reason("popular"))
    return reasons


def _best_match(
    ids: npt.NDArray[np.intp], history: npt.NDArray[np.intp], similarity: Similarity | None
) -> npt.NDArray[np.intp]:
    """Per item, the position of its most similar history item (-1: none similar)."""
    if similarity is None or len(history) == 0 or len(ids) == 0:
        return np.full(len(ids), -1, dtype=np.intp)
    sim = np.asarray(similarity(ids, history), dtype=np.float64)
    # the latest history item wins ties: search from the end
    best = len(history) - 1 - np.argmax(sim[:, ::-1], axis=1)
    return np.where(sim[np.arange(len(ids)), best] > 0, best, -1).astype(np.intp)
