"""Serving-time business rules and diversity, as pure functions over candidates.

A :class:`Ranked` list (item indices, scores, a reason per item) goes through
:func:`rerank`: filters (seen or bought within a window — replenishable items
excepted —, in stock, categories, labels, price), boosts, one item per product group,
then a greedy selection that trades relevance for diversity (MMR) under a cap per
category, an exploration share, and pinned items. Every step is also a function of
its own. A filter is never violated; a list may come out shorter than asked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from .items import ItemTable
from .reasons import Reason, ReasonContext, explain

__all__ = [
    "History",
    "Ranked",
    "Rules",
    "boost",
    "cosine_similarity",
    "exclude_seen",
    "explore",
    "filter_categories",
    "filter_labels",
    "in_stock_only",
    "intra_list_diversity",
    "one_per_group",
    "pin",
    "price_range",
    "rerank",
    "select_diverse",
]

#: ``similarity(items)`` → the (n, n) similarity matrix of those item indices, in [0, 1]
PairSimilarity = Callable[[npt.NDArray[np.intp]], npt.NDArray[np.floating]]
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Ranked:
    """Candidates, best first: item indices, scores, and a reason each (or None)."""

    items: npt.NDArray[np.intp]
    scores: npt.NDArray[np.float64]
    reasons: tuple[Reason | None, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", np.asarray(self.items, dtype=np.intp).reshape(-1))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float64).reshape(-1))
        if not self.reasons:
            object.__setattr__(self, "reasons", (None,) * len(self.items))
        if not len(self.items) == len(self.scores) == len(self.reasons):
            raise ValueError("items, scores and reasons must have the same length")

    @classmethod
    def of(cls, items: npt.ArrayLike, scores: npt.ArrayLike) -> Ranked:
        """From a model's ``recommend`` output (padding ids -1 are dropped)."""
        ids = np.asarray(items).reshape(-1)
        return cls(ids[ids >= 0], np.asarray(scores).reshape(-1)[ids >= 0])

    def __len__(self) -> int:
        return len(self.items)

    def take(self, positions: npt.ArrayLike) -> Ranked:
        """The candidates at these positions (a boolean mask or indices), in that order."""
        pos = np.arange(len(self))[np.asarray(positions)] if len(self) else np.zeros(0, dtype=np.intp)
        if self.reasons.count(None) == len(self.reasons):  # no reasons yet (a model's candidates)
            return Ranked(self.items[pos], self.scores[pos], (None,) * len(pos))
        return Ranked(self.items[pos], self.scores[pos], tuple(map(self.reasons.__getitem__, pos.tolist())))

    def sorted(self) -> Ranked:
        """Best score first (a stable sort: equal scores keep their order)."""
        return self.take(np.argsort(-self.scores, kind="stable"))


# -- filters ---------------------------------------------------------------------------


def exclude_seen(
    ranked: Ranked,
    seen_items: npt.ArrayLike,
    seen_ms: npt.ArrayLike,
    *,
    now_ms: int,
    window_days: float | None = None,
    replenishable: npt.NDArray[np.bool_] | None = None,
) -> Ranked:
    """Drop items the person interacted with within ``window_days`` before ``now_ms``
    (``None``: ever), except replenishable items. Pass purchases for "already bought",
    views for "already seen" (each with its own window)."""
    return ranked.take(_unseen(ranked.items, seen_items, seen_ms, now_ms, window_days, replenishable))


def _unseen(
    candidates: npt.NDArray[np.intp],
    seen_items: npt.ArrayLike,
    seen_ms: npt.ArrayLike,
    now_ms: int,
    window_days: float | None,
    replenishable: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.bool_]:
    """Per candidate: not among the items seen within the window (replenishable excepted)."""
    items = np.asarray(seen_items, dtype=np.intp).reshape(-1)
    times = np.asarray(seen_ms, dtype=np.int64).reshape(-1)
    recent = items if window_days is None else items[times >= now_ms - window_days * _DAY_MS]
    if replenishable is not None:
        recent = recent[~replenishable[recent]]
    if not recent.size or not candidates.size:
        return np.ones(len(candidates), dtype=bool)
    size = int(max(candidates.max(), recent.max())) + 1
    seen = np.zeros(size, dtype=bool)
    seen[recent] = True
    return ~seen[candidates]


def in_stock_only(ranked: Ranked, table: ItemTable) -> Ranked:
    return ranked.take(table.in_stock[ranked.items])


def filter_categories(
    ranked: Ranked,
    table: ItemTable,
    *,
    include: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> Ranked:
    """Keep items in at least one ``include`` category (all when None) and in none of
    ``exclude``; an item's categories are all of ``table.categories``."""
    inc, exc = (None if include is None else frozenset(include)), frozenset(exclude)
    keep = [
        (inc is None or bool(table.categories[i] & inc)) and not (table.categories[i] & exc)
        for i in ranked.items
    ]
    return ranked.take(np.asarray(keep, dtype=bool))


def filter_labels(
    ranked: Ranked,
    table: ItemTable,
    *,
    all_of: Collection[str] = (),
    any_of: Collection[str] | None = None,
    none_of: Collection[str] = (),
) -> Ranked:
    """Keep items carrying every ``all_of`` label, one of ``any_of`` and none of ``none_of``."""
    req, banned = frozenset(all_of), frozenset(none_of)
    anyset = None if any_of is None else frozenset(any_of)
    keep = [
        req <= table.labels[i]
        and (anyset is None or bool(table.labels[i] & anyset))
        and not (table.labels[i] & banned)
        for i in ranked.items
    ]
    return ranked.take(np.asarray(keep, dtype=bool))


def price_range(
    ranked: Ranked, table: ItemTable, *, low: float | None = None, high: float | None = None
) -> Ranked:
    """Keep items priced within [low, high]; with a bound set, an unknown price is out."""
    price = table.price[ranked.items]
    keep = np.ones(len(ranked), dtype=bool)
    if low is not None:
        keep &= price >= low
    if high is not None:
        keep &= price <= high
    return ranked.take(keep)


def one_per_group(ranked: Ranked, table: ItemTable) -> Ranked:
    """No two variants of one product: the best-ranked item of each ``group_id`` stays."""
    groups = table.codes("group_id")[ranked.items]  # integer codes: np.unique on strings is slow
    _, first = np.unique(groups, return_index=True)
    return ranked.take(np.sort(first))


# -- ordering --------------------------------------------------------------------------


def boost(ranked: Ranked, factors: Mapping[int, float]) -> Ranked:
    """Multiply the relevance of some items (item index → factor) and re-sort. Scores are
    first rescaled to [1, 2] (the best is 2), so a factor > 1 always moves an item up,
    and a factor above 2 lifts even the last item to the top."""
    if not len(ranked) or not factors:
        return ranked
    span = float(ranked.scores.max() - ranked.scores.min())
    shifted = 1.0 + (ranked.scores - ranked.scores.min()) / (span if span > 0 else 1.0)
    f = np.array([factors.get(int(i), 1.0) for i in ranked.items], dtype=np.float64)
    return Ranked(ranked.items, shifted * f, ranked.reasons).sorted()


def pin(ranked: Ranked, pins: Mapping[int, int], k: int) -> Ranked:
    """Put item ``i`` at position ``pins[i]`` (0-based, clipped to the list), whether or
    not it was a candidate; the other items keep their order. Reason ``pinned``."""
    if not pins:
        return ranked.take(np.arange(min(k, len(ranked))))
    rest = ranked.take(~np.isin(ranked.items, list(pins)))
    slots: list[tuple[int, float, Reason | None]] = [
        (int(i), float(s), r) for i, s, r in zip(rest.items, rest.scores, rest.reasons, strict=True)
    ]
    top = float(ranked.scores.max()) if len(ranked) else 0.0
    for item, position in sorted(pins.items(), key=lambda p: p[1]):
        slots.insert(min(max(position, 0), len(slots)), (int(item), top, Reason("pinned")))
    slots = slots[:k]
    return Ranked(
        np.array([s[0] for s in slots], dtype=np.intp),
        np.array([s[1] for s in slots]),
        tuple(s[2] for s in slots),
    )


def cosine_similarity(vectors: csr_matrix | npt.NDArray[np.floating]) -> PairSimilarity:
    """A pair similarity from item vectors (content vectors, ALS factors), clipped to [0, 1]."""

    def similarity(items: npt.NDArray[np.intp]) -> npt.NDArray[np.floating]:
        v = vectors[items]
        dense = np.asarray(v.todense() if isinstance(v, csr_matrix) else v, dtype=np.float64)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        unit = dense / np.where(norms > 0, norms, 1.0)
        return np.clip(unit @ unit.T, 0.0, 1.0)

    return similarity


def intra_list_diversity(items: npt.ArrayLike, similarity: PairSimilarity) -> float:
    """Mean pairwise dissimilarity ``1 - sim`` of a list (0 for fewer than two items)."""
    ids = np.asarray(items, dtype=np.intp).reshape(-1)
    if len(ids) < 2:
        return 0.0
    sim = np.asarray(similarity(ids), dtype=np.float64)
    upper = np.triu_indices(len(ids), 1)
    return float(np.mean(1.0 - sim[upper]))


def select_diverse(
    ranked: Ranked,
    k: int,
    *,
    similarity: PairSimilarity | None = None,
    lambda_: float = 1.0,
    categories: npt.NDArray[np.intp] | None = None,
    max_per_category: int | None = None,
) -> Ranked:
    """Greedy maximal marginal relevance under a cap per category.

    Each step takes the candidate maximizing ``λ·rel - (1-λ)·max sim(selected)``, where
    ``rel`` is the score rescaled to [0, 1]; ``λ = 1`` is the plain ranking. Items whose
    category (a code per item index, -1 unknown, never capped) already has
    ``max_per_category`` items are skipped.
    """
    n = len(ranked)
    if n == 0 or k <= 0:
        return ranked.take(np.zeros(0, dtype=np.intp))
    s = ranked.scores
    plain = (similarity is None or lambda_ >= 1) and max_per_category is None
    if plain and bool(np.all(s[1:] <= s[:-1])):
        # relevance alone on a list best first: the greedy picks are its head
        return ranked.take(np.arange(min(k, n)))
    span = s.max() - s.min()
    rel = (s - s.min()) / span if span > 0 else np.ones(n)
    sim = np.asarray(similarity(ranked.items), dtype=np.float64) if similarity and lambda_ < 1 else None
    cats = categories[ranked.items] if categories is not None else np.full(n, -1)
    counts: dict[int, int] = {}
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    max_sim = np.zeros(n)
    while len(chosen) < k:
        if max_per_category is not None:
            for c, count in counts.items():
                if count >= max_per_category:
                    available &= cats != c
        if not available.any():
            break
        value = lambda_ * rel - (1.0 - lambda_) * max_sim if sim is not None else rel
        pick = int(np.flatnonzero(available)[np.argmax(value[available])])
        chosen.append(pick)
        available[pick] = False
        if cats[pick] >= 0:
            counts[int(cats[pick])] = counts.get(int(cats[pick]), 0) + 1
        if sim is not None:
            max_sim = np.maximum(max_sim, sim[pick])
    return ranked.take(np.asarray(chosen, dtype=np.intp))


def explore(
    selected: Ranked,
    pool: Ranked,
    *,
    share: float,
    novelty: npt.NDArray[np.floating],
    seed: int = 0,
) -> Ranked:
    """Give at most ``floor(share · len(selected))`` slots to novel but relevant items.

    Exploration candidates are the ``pool`` items not already selected whose score is
    at least the pool's median (relevant); they are drawn without replacement with
    probability proportional to ``novelty`` (e.g. 1 - popularity percentile), with a
    seeded generator, and take the last slots of the list. Reason ``explore``.
    """
    slots = int(np.floor(max(0.0, min(share, 1.0)) * len(selected)))
    if slots == 0 or not len(pool):
        return selected
    fresh = pool.take(~np.isin(pool.items, selected.items))
    fresh = fresh.take(fresh.scores >= np.median(pool.scores))
    weights = np.clip(np.asarray(novelty, dtype=np.float64)[fresh.items], 0.0, None)
    eligible = np.flatnonzero(weights > 0)
    slots = min(slots, len(eligible))
    if slots == 0:
        return selected
    rng = np.random.default_rng(seed)
    picked = rng.choice(eligible, size=slots, replace=False, p=weights[eligible] / weights[eligible].sum())
    extra = fresh.take(np.sort(picked))
    keep = selected.take(np.arange(len(selected) - slots))
    return Ranked(
        np.concatenate([keep.items, extra.items]),
        np.concatenate([keep.scores, extra.scores]),
        keep.reasons + (Reason("explore"),) * slots,
    )


# -- the whole pass --------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The serving rules of one placement; every field is optional."""

    exclude_bought: bool = True  # leave out what the person bought (replenishable items excepted)
    exclude_bought_days: float | None = None  # ... within this many days; None: ever
    exclude_seen_days: float | None = 0.0  # leave out items viewed within; 0: keep them; None: ever
    in_stock_only: bool = True
    include_categories: frozenset[str] | None = None
    exclude_categories: frozenset[str] = frozenset()
    labels_all: frozenset[str] = frozenset()
    labels_any: frozenset[str] | None = None
    labels_none: frozenset[str] = frozenset()
    price_low: float | None = None
    price_high: float | None = None
    boosts: Mapping[int, float] = field(default_factory=dict)
    pins: Mapping[int, int] = field(default_factory=dict)
    one_per_group: bool = True
    diversity: float = 0.0  # MMR: 0 is plain relevance, 1 is diversity only (λ = 1 - diversity)
    max_per_category: int | None = None
    exploration: float = 0.0  # share of the slots, at most 0.5
    seed: int = 0


@dataclass(frozen=True)
class History:
    """What the person did: item indices with the time of the latest view and purchase."""

    viewed: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    viewed_ms: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bought: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    bought_ms: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def rerank(
    candidates: Ranked,
    *,
    k: int,
    table: ItemTable,
    rules: Rules = Rules(),
    history: History = History(),
    now_ms: int = 0,
    replenishable: npt.NDArray[np.bool_] | None = None,
    similarity: PairSimilarity | None = None,
    novelty: npt.NDArray[np.floating] | None = None,
    reasons: ReasonContext | None = None,
) -> Ranked:
    """Apply ``rules`` to model candidates (ask the model for a few times ``k``) and
    return at most ``k`` items, each with a reason."""
    r = candidates.sorted()
    keep = np.ones(len(r), dtype=bool)  # the filters on arrays, applied in one take
    if rules.exclude_bought:
        keep &= _unseen(
            r.items, history.bought, history.bought_ms, now_ms, rules.exclude_bought_days, replenishable
        )
    if rules.exclude_seen_days is None or rules.exclude_seen_days > 0:
        keep &= _unseen(
            r.items, history.viewed, history.viewed_ms, now_ms, rules.exclude_seen_days, replenishable
        )
    if rules.in_stock_only:
        keep &= table.in_stock[r.items]
    if not keep.all():
        r = r.take(keep)
    if rules.include_categories is not None or rules.exclude_categories:
        r = filter_categories(r, table, include=rules.include_categories, exclude=rules.exclude_categories)
    if rules.labels_all or rules.labels_any is not None or rules.labels_none:
        r = filter_labels(
            r, table, all_of=rules.labels_all, any_of=rules.labels_any, none_of=rules.labels_none
        )
    if rules.price_low is not None or rules.price_high is not None:
        r = price_range(r, table, low=rules.price_low, high=rules.price_high)
    r = boost(r, rules.boosts)
    if rules.one_per_group:
        r = one_per_group(r, table)
    pool = r
    slots = max(k - len(rules.pins), 0)
    r = select_diverse(
        r,
        slots,
        similarity=similarity,
        lambda_=1.0 - min(max(rules.diversity, 0.0), 1.0),
        categories=table.codes("category"),
        max_per_category=rules.max_per_category,
    )
    if rules.exploration > 0 and novelty is not None:
        r = _explore_within_rules(r, pool, rules, table, novelty)
    r = pin(r, rules.pins, k)
    context = replace(reasons or ReasonContext(), table=table, replenishable=replenishable, now_ms=now_ms)
    missing = [n for n, reason in enumerate(r.reasons) if reason is None]
    filled = dict(zip(missing, explain(r.items[missing], context), strict=True))
    return Ranked(r.items, r.scores, tuple(filled.get(n, reason) for n, reason in enumerate(r.reasons)))


def _explore_within_rules(
    selected: Ranked, pool: Ranked, rules: Rules, table: ItemTable, novelty: npt.NDArray[np.floating]
) -> Ranked:
    """Exploration that keeps the category cap: candidates of full categories are left out."""
    share = min(rules.exploration, 0.5)
    if rules.max_per_category is not None:
        cats = table.codes("category")
        slots = int(np.floor(share * len(selected)))
        kept = cats[selected.items[: len(selected) - slots]]
        full = [c for c in np.unique(kept[kept >= 0]) if np.sum(kept == c) >= rules.max_per_category]
        pool = pool.take(~np.isin(cats[pool.items], full))
    out = explore(selected, pool, share=share, novelty=novelty, seed=rules.seed)
    if rules.max_per_category is not None:  # two explored items may share a category
        out = select_diverse(
            out, len(out), categories=table.codes("category"), max_per_category=rules.max_per_category
        )
    return out
