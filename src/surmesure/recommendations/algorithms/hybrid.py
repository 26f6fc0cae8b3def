"""The default model: EASE as the backbone, blended with co-occurrence, session,
content and popularity scores, with fallbacks for new people and new items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from ..items import ItemTable
from ._sparse import session_row
from .als import ALS
from .base import Ids, Recommender, Rows, Scores
from .content import ContentBased
from .cooccurrence import ItemCooccurrence
from .ease import EASE, weigh
from .popularity import Popularity
from .session import SessionKNN

__all__ = ["DEFAULT_BLEND", "Hybrid", "normalize_rows"]

#: weight of each component's row-normalized scores (co-occurrence lowered the offline
#: NDCG@10 on both benchmark datasets at every weight tried: docs/evaluation.md)
DEFAULT_BLEND: Mapping[str, float] = {
    "ease": 1.0,
    "cooccurrence": 0.0,
    "session": 0.1,
    "content": 0.05,
    "popularity": 0.1,
    "als": 0.0,
}


def normalize_rows(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row divided by its largest absolute value (rows of zeros stay zeros)."""
    top = np.abs(scores).max(axis=1, keepdims=True) if scores.shape[1] else np.ones((len(scores), 1))
    return (scores / np.where(top > 0, top, 1.0)).astype(np.float32)


def _ease_scores(model: EASE, user_items: csr_matrix) -> Scores:
    """EASE scores of every item, 0 for the items it does not model; the rows' items are
    mapped to ``B_``'s rows directly (no sparse column slicing: the serving path)."""
    x = weigh(user_items, model.weighting)
    position: npt.NDArray[np.int64] | None = getattr(model, "_position", None)
    if position is None:  # computed once per fitted (or loaded) model, not saved
        position = np.full(model.n_items_, -1, dtype=np.int64)
        position[model.items_] = np.arange(len(model.items_))
        model._position = position  # type: ignore[attr-defined]
    out = np.zeros((x.shape[0], model.n_items_), dtype=np.float32)
    pos = position[x.indices]
    keep = pos >= 0
    if x.shape[0] == 1:
        out[0, model.items_] = x.data[keep] @ model.B_[pos[keep]]
        return out
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))[keep]
    modelled = csr_matrix((x.data[keep], (rows, pos[keep])), shape=(x.shape[0], len(model.items_)))
    out[:, model.items_] = np.asarray(modelled @ model.B_, dtype=np.float32)
    return out


class Hybrid(Recommender):
    """Blend of component scores, ``Σ weight_c · s_c / max|s_c|``.

    Every component is row-normalized (its best item scores 1 for each person) except
    EASE, which is divided by one constant learned at fit (the mean of the people's best
    EASE score): its scores grow with the evidence a history carries, and keeping that
    scale lets popularity decide where a person's EASE scores are weak.

    * a person with no interactions (an empty row) gets popularity (trending when
      timestamps are given);
    * a person with a thin history leans on popularity: its weight is
      ``blend["popularity"] + thin_popularity · thin_history / (thin_history + n)``
      for a person with ``n`` interactions (half the boost at ``n = thin_history``);
    * an anonymous visitor is served from the session's items alone
      (:meth:`recommend_session`, or a row built from the session);
    * an item nobody interacted with yet is scored by content only (times
      ``cold_start_weight``), so new catalogue items can surface.

    Components whose weight is 0 are not fitted; ``content`` needs ``item_table`` and
    ``session`` needs ``sessions`` at fit, otherwise they are left out.

    Parameters
    ----------
    blend : mapping of str to float, optional
        Component weights; keys among ``ease``, ``cooccurrence``, ``session``,
        ``content``, ``popularity``, ``als``. Default :data:`DEFAULT_BLEND`.
    ease_lambda : float, default 200
    weighting : {"binary", "log", "raw"}, default "log"
    max_items : int, default 5000
        Items modelled by EASE (the most popular); the others score 0 in its part of
        the blend and are ranked by the other components. Fitting EASE is cubic in
        this number (5,000: a few seconds; 20,000: one to two minutes on one core).
    k : int, default 100
        Neighbours kept by the co-occurrence and session components.
    thin_popularity : float, default 0.5
        Extra popularity weight for people with short histories (see above).
    thin_history : float, default 5
        History length (interactions) at which that extra weight is halved.
    popularity_half_life_days : float or None, default 30
        Half-life of trending popularity (with ``timestamps_ms`` at fit; ``None``:
        all time). 30 days rather than 7: on the validation splits of both benchmark
        datasets a month's trend ranked new purchases as well as or better than a week's.
    half_life_steps : float, default 2
        Recency of session items in :meth:`recommend_session`.
    cold_start_weight : float, default 0.5
    random_state : int, default 0
        Seed of the ALS component, when it is used.

    Attributes
    ----------
    ease_, cooccurrence_, session_, content_, popularity_, als_ : Recommender or None
        The fitted components (``None`` when left out).
    ease_scale_ : float
        What EASE scores are multiplied by in the blend: 1 / the mean, over up to
        1,000 people of the training matrix (seeded sample), of their best EASE score.
    cold_items_ : ndarray of bool, shape (n_items,)
        Items without interactions at fit.
    n_items_ : int
    """

    def __init__(
        self,
        *,
        blend: Mapping[str, float] | None = None,
        ease_lambda: float = 200.0,
        weighting: str = "log",
        max_items: int = 5000,
        k: int = 100,
        thin_popularity: float = 0.5,
        thin_history: float = 5.0,
        popularity_half_life_days: float | None = 30.0,
        half_life_steps: float = 2.0,
        cold_start_weight: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.blend = blend
        self.ease_lambda = ease_lambda
        self.weighting = weighting
        self.max_items = max_items
        self.k = k
        self.thin_popularity = thin_popularity
        self.thin_history = thin_history
        self.popularity_half_life_days = popularity_half_life_days
        self.half_life_steps = half_life_steps
        self.cold_start_weight = cold_start_weight
        self.random_state = random_state

    def _weights(self) -> dict[str, float]:
        weights = dict(DEFAULT_BLEND if self.blend is None else self.blend)
        unknown = set(weights) - set(DEFAULT_BLEND)
        if unknown:
            raise ValueError(f"unknown blend components: {sorted(unknown)}")
        return {name: float(weights.get(name, 0.0)) for name in DEFAULT_BLEND}

    def fit(
        self,
        user_items: csr_matrix,
        *,
        item_table: ItemTable | None = None,
        sessions: csr_matrix | None = None,
        timestamps_ms: csr_matrix | None = None,
        now_ms: int | None = None,
        **_: Any,
    ) -> Self:
        """Fit every component with a positive weight.

        Parameters
        ----------
        user_items : csr_matrix (n_users, n_items)
        item_table : ItemTable, optional
            For the content component (and popularity per category).
        sessions : csr_matrix (n_sessions, n_items), optional
            For the session component.
        timestamps_ms : csr_matrix, optional
            ``InteractionMatrix.last_ms_``, for trending popularity.
        now_ms : int, optional
        """
        matrix = self._check_matrix(user_items)
        w = self._weights()
        self.popularity_ = Popularity(half_life_days=self.popularity_half_life_days).fit(
            matrix, timestamps_ms=timestamps_ms, now_ms=now_ms
        )
        self.ease_: Recommender | None = (
            EASE(lambda_=self.ease_lambda, weighting=self.weighting, max_items=self.max_items).fit(matrix)
            if w["ease"] > 0
            else None
        )
        self.cooccurrence_: Recommender | None = (
            ItemCooccurrence(k=self.k).fit(matrix) if w["cooccurrence"] > 0 else None
        )
        self.session_: Recommender | None = (
            SessionKNN(k=self.k, half_life_steps=self.half_life_steps).fit(sessions)
            if w["session"] > 0 and sessions is not None
            else None
        )
        self.content_: Recommender | None = (
            ContentBased().fit(matrix, item_table=item_table)
            if item_table is not None and (w["content"] > 0 or self.cold_start_weight > 0)
            else None
        )
        self.als_: Recommender | None = (
            ALS(weighting=self.weighting, random_state=self.random_state).fit(matrix)
            if w["als"] > 0
            else None
        )
        self.ease_scale_ = self._ease_scale(matrix) if self.ease_ is not None else 1.0
        self.cold_items_ = self.popularity_.item_users_ == 0
        self.n_items_ = matrix.shape[1]
        return self

    def _ease_scale(self, matrix: csr_matrix, sample: int = 1000) -> float:
        assert self.ease_ is not None
        people = np.flatnonzero(np.diff(matrix.indptr) > 0)
        if people.size > sample:
            people = np.sort(np.random.default_rng(self.random_state).choice(people, sample, replace=False))
        if people.size == 0:
            return 1.0
        best = self._raw_scores("ease", self.ease_, people, matrix[people], False).max(axis=1)
        mean = float(np.maximum(best, 0.0).mean())
        return 1.0 / mean if mean > 0 else 1.0

    def _components(self) -> list[tuple[str, Recommender]]:
        return [
            (name, model) for name in DEFAULT_BLEND if (model := getattr(self, f"{name}_", None)) is not None
        ]

    def component_scores(
        self, userids: npt.NDArray[np.intp], user_items: csr_matrix, recalculate_user: bool = False
    ) -> dict[str, Scores]:
        """Each fitted component's normalized scores (what the blend adds up)."""
        self._check_fitted()
        parts: dict[str, Scores] = {}
        for name, model in self._components():
            raw = self._raw_scores(name, model, userids, user_items, recalculate_user)
            parts[name] = raw * np.float32(self.ease_scale_) if name == "ease" else normalize_rows(raw)
        return parts

    @staticmethod
    def _raw_scores(
        name: str, model: Recommender, userids: Rows, user_items: csr_matrix, recalculate_user: bool
    ) -> Scores:
        if name == "ease" and isinstance(model, EASE) and len(model.items_) < model.n_items_:
            # the items EASE does not model score 0 here (EASE alone puts them below
            # every modelled item, a floor that would dominate the normalization)
            return _ease_scores(model, user_items)
        return model._scores(userids, user_items, recalculate_user)

    def popularity_weights(self, user_items: csr_matrix) -> npt.NDArray[np.float32]:
        """Per row of ``user_items``, the weight popularity gets in the blend."""
        n = np.diff(user_items.indptr).astype(np.float32)
        base = self._weights()["popularity"]
        if self.thin_popularity <= 0:
            return np.full(n.shape, base, dtype=np.float32)
        scale = max(float(self.thin_history), 1e-9)
        weights: npt.NDArray[np.float32] = (base + self.thin_popularity * scale / (scale + n)).astype(
            np.float32
        )
        return weights

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        weights = self._weights()
        parts = self.component_scores(userids, user_items, recalculate_user)
        total = np.zeros((len(userids), self.n_items_), dtype=np.float32)
        for name, scores in parts.items():
            if name != "popularity":
                total += weights[name] * scores
        if "content" in parts and self.cold_items_.any():
            total[:, self.cold_items_] = self.cold_start_weight * parts["content"][:, self.cold_items_]
        total += self.popularity_weights(user_items)[:, np.newaxis] * parts["popularity"]
        empty = np.diff(user_items.indptr) == 0
        total[empty] = parts["popularity"][empty]
        return total

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        weights = self._weights()
        total = np.zeros((len(itemids), self.n_items_), dtype=np.float32)
        for name, model in self._components():
            if name in ("ease", "cooccurrence", "session", "content", "als") and weights[name] > 0:
                total += weights[name] * normalize_rows(model._similar(itemids))
        if self.content_ is not None:
            cold = self.cold_items_[itemids]
            if cold.any():  # a new item: content only
                total[cold] = normalize_rows(self.content_._similar(itemids[cold]))
        return total

    def recommend_session(
        self,
        items: npt.ArrayLike,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: npt.ArrayLike | None = None,
    ) -> tuple[Ids, Scores]:
        """Recommend for an anonymous visitor from the session's item indices (in the
        order they were viewed); an empty session gets popularity."""
        self._check_fitted()
        row = session_row(items, self.n_items_, self.half_life_steps)
        return self.recommend(0, row, N, filter_already_liked_items, filter_items, recalculate_user=True)
