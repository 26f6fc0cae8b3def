"""One answer from a loaded model: the visitor's row built at request time, the
context's candidates, the rules, a reason per item. Pure (no SQL, no HTTP): the
service reads the visitor's events and the catalogue and passes them in.

Contexts: ``home`` (the person's row, or trending popularity for a new visitor),
``email`` (the same, without the items already sent), ``item`` (``similar`` items, or
``complementary``: bought together, topped up with similar ones), ``cart`` (basket
completion: bought together with the cart, blended with the model's scores for a row
made of the cart's items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from .algorithms.base import Recommender
from .artifacts import Artifact
from .errors import AlgorithmNotInModel, InvalidRequest, UnknownItem
from .interactions import InteractionMatrix
from .items import ItemTable
from .neighbours import Neighbours
from .onerow import OneRow, aggregate, one_row_scorer
from .reasons import Reason, ReasonContext, phrase
from .rerank import History, PairSimilarity, Ranked, Rules, cosine_similarity, rerank
from .signals import Visitor

__all__ = [
    "ALGORITHMS",
    "CONTEXTS",
    "RELATIONS",
    "Algorithm",
    "Answer",
    "Prepared",
    "Query",
    "Served",
    "answer",
    "prepare",
]

CONTEXTS = ("home", "item", "cart", "email")
RELATIONS = ("similar", "complementary")
#: what may rank the candidates: the default model (the hybrid), or one of its parts
#: alone, e.g. to test one algorithm against another on a placement
Algorithm = Literal["hybrid", "ease", "session", "content", "popularity", "cooccurrence", "als"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
_DAY_MS = 86_400_000
_REASON_HISTORY = 20  # the latest distinct items a reason may name


@dataclass(frozen=True)
class Query:
    """What is asked, with item ids (the service validated the shapes)."""

    context: str = "home"
    k: int = 10
    item_id: str | None = None
    item_ids: tuple[str, ...] = ()
    relation: str = "similar"
    rules: Rules = field(default_factory=Rules)  # without boosts and pins: those are by id below
    boosts: Mapping[str, float] = field(default_factory=dict)
    pins: Mapping[str, int] = field(default_factory=dict)
    algorithm: Algorithm = "hybrid"


@dataclass(frozen=True)
class Answer:
    items: list[dict[str, Any]]
    personalized: bool
    unknown_items: list[str]


@dataclass(frozen=True, eq=False)
class Served:
    """A loaded artifact with the catalogue's current view of its items."""

    artifact: Artifact
    table: ItemTable
    display: tuple[dict[str, Any], ...]

    @cached_property
    def matrix(self) -> InteractionMatrix:
        """The row builder: the artifact's columns and weighting (no people)."""
        params = self.artifact.manifest.get("params", {}).get("matrix", {})
        m = InteractionMatrix(
            weights=params.get("weights"), half_life_days=params.get("half_life_days", 30.0)
        )
        m.item_ids_ = self.artifact.item_ids
        m.user_items_ = csr_matrix((0, len(self.artifact.item_ids)), dtype=np.float32)
        return m

    @cached_property
    def scorer(self) -> OneRow | None:
        """The model's one-row scorer (None: the general ``recommend`` path)."""
        return one_row_scorer(self.artifact.model)

    @cached_property
    def novelty(self) -> npt.NDArray[np.float64]:
        users = self.artifact.model.popularity_.item_users_.astype(np.float64)
        order = users.argsort(kind="stable").argsort(kind="stable")
        return np.asarray(1.0 - order / max(len(users) - 1, 1), dtype=np.float64)

    @cached_property
    def trending(self) -> npt.NDArray[np.bool_]:
        scores = self.artifact.model.popularity_.item_scores_
        positive = scores[scores > 0]
        return scores >= (np.median(positive) if positive.size else np.inf)

    @cached_property
    def neighbours(self) -> Neighbours:
        """The model's item-to-item neighbour lists (for reasons), filled as items are asked."""
        return Neighbours(self.artifact.model._similar, len(self.artifact.item_ids))

    @cached_property
    def diversity_similarity(self) -> PairSimilarity | None:
        content = self.artifact.model.content_
        vectors = getattr(content, "item_vectors_", None)
        return None if vectors is None else cosine_similarity(vectors)

    @cached_property
    def _category_masks(self) -> dict[str, npt.NDArray[np.bool_]]:
        return _masks(self.table.categories, len(self.table))

    @cached_property
    def _label_masks(self) -> dict[str, npt.NDArray[np.bool_]]:
        return _masks(self.table.labels, len(self.table))

    def any_of(self, kind: str, names: frozenset[str]) -> npt.NDArray[np.bool_]:
        masks = self._category_masks if kind == "category" else self._label_masks
        out = np.zeros(len(self.table), dtype=bool)
        for name in names:
            if name in masks:
                out |= masks[name]
        return out

    def columns(self, item_ids: list[str]) -> npt.NDArray[np.intp]:
        return self.matrix.item_index(np.asarray(item_ids, dtype=str)) if item_ids else np.zeros(0, np.intp)


def _masks(sets: tuple[frozenset[str], ...], n: int) -> dict[str, npt.NDArray[np.bool_]]:
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for i, names in enumerate(sets):
        for name in names:
            masks.setdefault(name, np.zeros(n, dtype=bool))[i] = True
    return masks


def _allowed(s: Served, rules: Rules, history: History, now_ms: int) -> npt.NDArray[np.bool_]:
    """The columns the rules let through, before ranking (rerank checks them again)."""
    t = s.table
    ok = t.in_stock.copy() if rules.in_stock_only else np.ones(len(t), dtype=bool)
    if rules.price_low is not None:
        ok &= t.price >= rules.price_low
    if rules.price_high is not None:
        ok &= t.price <= rules.price_high
    if rules.include_categories is not None:
        ok &= s.any_of("category", rules.include_categories)
    if rules.exclude_categories:
        ok &= ~s.any_of("category", rules.exclude_categories)
    for label in rules.labels_all:
        ok &= s.any_of("label", frozenset([label]))
    if rules.labels_any is not None:
        ok &= s.any_of("label", rules.labels_any)
    if rules.labels_none:
        ok &= ~s.any_of("label", rules.labels_none)
    replenishable = s.artifact.replenishable
    windows = []
    if rules.exclude_bought:
        windows.append((history.bought, history.bought_ms, rules.exclude_bought_days))
    if rules.exclude_seen_days is None or rules.exclude_seen_days > 0:
        windows.append((history.viewed, history.viewed_ms, rules.exclude_seen_days))
    for cols, stamps, days in windows:
        recent = cols if days is None else cols[stamps >= now_ms - days * _DAY_MS]
        ok[recent[~replenishable[recent]]] = False
    return ok


def _visitor_arrays(
    s: Served, visitor: Visitor
) -> tuple[npt.NDArray[np.intp], list[str], npt.NDArray[np.int64]]:
    cols = s.columns([sig.item_id for sig in visitor.signals])
    kinds = [sig.kind for sig in visitor.signals]
    stamps = np.asarray([sig.timestamp_ms for sig in visitor.signals], dtype=np.int64)
    return cols, kinds, stamps


def _history(cols: npt.NDArray[np.intp], kinds: list[str], stamps: npt.NDArray[np.int64]) -> History:
    known = cols >= 0
    bought = known & (np.asarray(kinds, dtype=str) == "purchase") if kinds else known
    seen = known & ~bought
    return History(viewed=cols[seen], viewed_ms=stamps[seen], bought=cols[bought], bought_ms=stamps[bought])


def _row(s: Served, visitor: Visitor, now_ms: int, extra: Sequence[str] = ()) -> csr_matrix:
    ids = [sig.item_id for sig in visitor.signals] + list(extra)
    kinds = [sig.kind for sig in visitor.signals] + ["add_to_cart"] * len(extra)
    stamps = [sig.timestamp_ms for sig in visitor.signals] + [now_ms] * len(extra)
    qty = [np.nan if sig.quantity is None else sig.quantity for sig in visitor.signals] + [np.nan] * len(
        extra
    )
    return s.matrix.row(
        np.asarray(ids, dtype=str),
        np.asarray(kinds, dtype=str),
        np.asarray(stamps, dtype=np.int64),
        np.asarray(qty, dtype=float),
        now_ms=now_ms,
    )


@dataclass(frozen=True, eq=False)
class Prepared:
    """What an answer needs of a visitor that does not depend on the time or the query:
    computed once per visitor and model version (:func:`prepare`), kept by the service
    while the visitor's events do not change."""

    cols: npt.NDArray[np.intp]  # per signal: its column, -1 unknown
    kinds: list[str]
    history: History
    reasons: ReasonContext
    row_cols: npt.NDArray[np.intp]  # the row's parts (InteractionMatrix.row_parts)
    row_values: npt.NDArray[np.float64]
    row_stamps: npt.NDArray[np.int64]
    row_quantities: npt.NDArray[np.float64]


def prepare(s: Served, visitor: Visitor) -> Prepared:
    """The visitor's signals mapped to the model's columns, their history and the
    context of their reasons, and the parts of their row."""
    cols, kinds, stamps = _visitor_arrays(s, visitor)
    ids = np.asarray([sig.item_id for sig in visitor.signals], dtype=str)
    row_cols, values = s.matrix.row_parts(ids, np.asarray(kinds, dtype=str))
    qty = [np.nan if sig.quantity is None else sig.quantity for sig in visitor.signals]
    return Prepared(
        cols, kinds, _history(cols, kinds, stamps), _reason_context(s, cols, kinds),
        row_cols, values, stamps, np.asarray(qty, dtype=float),
    )  # fmt: skip


def _reason_context(s: Served, cols: npt.NDArray[np.intp], kinds: list[str]) -> ReasonContext:
    strength = {"view": 0, "add_to_cart": 1, "purchase": 2}
    latest: dict[int, str] = {}
    for col, kind in zip(cols.tolist(), kinds, strict=True):
        if col >= 0:
            best = latest.pop(col, kind)
            latest[col] = best if strength.get(best, 0) >= strength.get(kind, 0) else kind
    recent = list(latest.items())[-_REASON_HISTORY:]
    brands = [str(s.table.brand[c]) for c in cols.tolist() if c >= 0 and s.table.brand[c]]
    favourite = max(set(brands), key=brands.count) if brands else None
    history = [c for c, _ in recent]
    return ReasonContext(
        history=history,
        history_kinds=[k for _, k in recent],
        similarity=s.neighbours.against(history),
        favourite_brand=favourite,
        trending=s.trending,
    )


def _normalized(scores: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    top = float(np.max(np.abs(scores))) if scores.size else 0.0
    return np.asarray(scores, dtype=np.float64) / (top if top > 0 else 1.0)


def _ranker(s: Served, q: Query) -> Recommender:
    """The model that ranks for ``q``: the served one, or the part of it ``q.algorithm``
    names."""
    if q.algorithm == "hybrid":
        return s.artifact.model
    part = getattr(s.artifact.model, f"{q.algorithm}_", None)
    if not isinstance(part, Recommender):
        raise AlgorithmNotInModel(
            f"the current model has no {q.algorithm!r} part (its blend weight was 0 at training)",
            algorithm=q.algorithm,
            version=s.artifact.version,
        )
    return part


def _item_candidates(s: Served, q: Query, allowed: npt.NDArray[np.bool_], n: int) -> Ranked:
    col = int(s.columns([q.item_id or ""])[0])
    if col < 0:
        raise UnknownItem(f"item {q.item_id!r} is not in the current model", item_id=q.item_id)
    allowed[col] = False
    pool = np.flatnonzero(allowed)
    model, together = _ranker(s, q), s.artifact.together
    try:
        ids, scores = model.similar_items(col, N=n, items=pool)
    except NotImplementedError:
        raise InvalidRequest(
            f"algorithm {q.algorithm!r} has no item-to-item similarity: context=item needs another",
            algorithm=q.algorithm,
        ) from None
    reasons = (Reason("similar", item=col),) * len(ids)
    similar = Ranked(ids.astype(np.intp), scores.astype(np.float64), reasons)
    if q.relation != "complementary" or together is None:
        return similar
    t_ids, t_scores = together.similar_items(col, N=n, items=pool)
    keep = t_scores > 0
    t_ids, t_scores = t_ids[keep], t_scores[keep]
    rest = similar.take(~np.isin(similar.items, t_ids))
    floor = float(t_scores.min()) if t_scores.size else 1.0
    # bought together first, then similar items, each list in its own order
    filler = floor * 0.5 * (1.0 + _normalized(rest.scores)) / 2.0 if len(rest) else np.zeros(0)
    return Ranked(
        np.concatenate([t_ids, rest.items]),
        np.concatenate([t_scores.astype(np.float64), filler]),
        (Reason("bought_together", item=col),) * len(t_ids) + rest.reasons,
    )


def _cart_candidates(
    s: Served, q: Query, allowed: npt.NDArray[np.bool_], n: int, now_ms: int
) -> tuple[Ranked, list[str]]:
    cols = s.columns(list(q.item_ids))
    unknown = [i for i, c in zip(q.item_ids, cols.tolist(), strict=True) if c < 0]
    cart = np.unique(cols[cols >= 0])
    allowed[cart] = False
    pool = np.flatnonzero(allowed)
    # basket completion from the cart alone; the visitor's history still drives the rules
    row = _row(s, Visitor(), now_ms, [str(s.artifact.item_ids[c]) for c in cart])
    ids, scores = _ranker(s, q).recommend(
        0, row, N=n, filter_already_liked_items=False, items=pool, recalculate_user=True
    )
    total = np.zeros(len(s.table))
    total[ids] = 0.5 * (1.0 + _normalized(scores)) / 2.0
    reasons: dict[int, Reason] = {}
    if cart.size and ids.size:
        near = s.neighbours.similarity(ids.astype(np.intp), cart)
        for n, c in enumerate(ids.tolist()):
            best = int(np.argmax(near[n]))
            if near[n, best] > 0:
                reasons[c] = Reason("similar", item=int(cart[best]))
    together = s.artifact.together
    if together is not None and cart.size:
        sim = np.asarray(together.similarity_[cart].todense(), dtype=np.float64)
        summed = sim.sum(axis=0) * allowed
        top = np.flatnonzero(summed > 0)
        top = top[np.argsort(-summed[top], kind="stable")[:n]]
        total[top] += 1.0 * _normalized(summed[top]) if top.size else 0.0
        for c in top.tolist():
            reasons[c] = Reason("bought_together", item=int(cart[int(np.argmax(sim[:, c]))]))
        ids = np.union1d(ids, top)
    ids = ids[np.argsort(-total[ids], kind="stable")]
    cands = ids.astype(np.intp)
    return Ranked(cands, total[cands], tuple(reasons.get(int(c)) for c in cands)), unknown


def _rules_with_ids(s: Served, q: Query) -> tuple[Rules, list[str]]:
    unknown: list[str] = []
    boosts: dict[int, float] = {}
    pins: dict[int, int] = {}
    for item_id, factor in q.boosts.items():
        col = int(s.columns([item_id])[0])
        if col < 0:
            unknown.append(item_id)
        else:
            boosts[col] = factor
    for item_id, position in q.pins.items():
        col = int(s.columns([item_id])[0])
        if col < 0:
            unknown.append(item_id)
        else:
            pins[col] = position
    return replace(q.rules, boosts=boosts, pins=pins), unknown


def answer(s: Served, q: Query, visitor: Visitor, *, now_ms: int, prepared: Prepared | None = None) -> Answer:
    """At most ``q.k`` items for the visitor in the context, each with its reason.
    ``prepared``: :func:`prepare` of this visitor and model, when the caller kept it."""
    p = prepare(s, visitor) if prepared is None else prepared
    history = p.history
    rules, unknown = _rules_with_ids(s, q)
    allowed = _allowed(s, rules, history, now_ms)
    n = int(min(len(s.table), max(5 * q.k, 50) + len(rules.pins)))
    context = ReasonContext()
    if q.context == "item":
        ranked = _item_candidates(s, q, allowed, n)
    elif q.context == "cart":
        ranked, missing = _cart_candidates(s, q, allowed, n, now_ms)
        unknown.extend(missing)
        context = p.reasons
    else:
        if q.context == "email" and visitor.sent:
            allowed &= ~np.isin(s.artifact.item_ids, list(visitor.sent))
        scorer = s.scorer if q.algorithm == "hybrid" else None
        if scorer is not None:
            entries = s.matrix.row_entries_at(
                p.row_cols, p.row_values, p.row_stamps, p.row_quantities, now_ms=now_ms
            )
            ranked = Ranked.of(*scorer.recommend(*aggregate(*entries), n, allowed))
        else:
            row = s.matrix.row_at(p.row_cols, p.row_values, p.row_stamps, p.row_quantities, now_ms=now_ms)
            ranked = Ranked.of(*_ranker(s, q).recommend(
                0, row, N=n, filter_already_liked_items=False, items=np.flatnonzero(allowed),
                recalculate_user=True,
            ))  # fmt: skip
        context = p.reasons
    out = rerank(
        ranked, k=q.k, table=s.table, rules=rules, history=history, now_ms=now_ms,
        replenishable=s.artifact.replenishable, novelty=s.novelty, reasons=context,
        similarity=s.diversity_similarity if rules.diversity > 0 else None,
    )  # fmt: skip
    items = []
    for position, (col, score, reason) in enumerate(zip(out.items, out.scores, out.reasons, strict=True)):
        why = reason or Reason("popular")
        entry: dict[str, Any] = {
            "id": str(s.artifact.item_ids[col]),
            "position": position,
            "score": round(float(score), 6),
            **s.display[int(col)],
        }
        entry["reason"] = {"code": why.code, "text": phrase(why, s.table)}
        if why.item is not None:
            entry["reason"]["item_id"] = str(s.artifact.item_ids[why.item])
        for key in ("category", "brand"):
            value = getattr(why, key)
            if value is not None:
                entry["reason"][key] = value
        items.append(entry)
    return Answer(items, personalized=bool(len(history.viewed) or len(history.bought)), unknown_items=unknown)
