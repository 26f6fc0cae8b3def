"""One visitor's scores from a fitted :class:`~.algorithms.hybrid.Hybrid`, for serving.

``Recommender.recommend`` takes a CSR matrix of rows and each component builds sparse
matrices of its own on the way: right for training and evaluation, where a call scores
thousands of people, but a request scores one row of a few dozen items, and there the
construction and checking of some ten sparse matrices costs more than the arithmetic.
:class:`OneRow` computes the same blend from the row's ``(columns, weights)`` arrays:
EASE as a weighted sum of rows of ``B``, the neighbourhood and content components as
a gather over their CSR rows, global popularity computed once, each normalized
and weighted as ``Hybrid._scores`` does. ``tests/recommendations/test_onerow.py`` checks
it against ``Hybrid.recommend`` on random rows; :func:`one_row_scorer` returns None
for a model it does not know (a component outside the ones below), and serving then
takes the general path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from .algorithms._sparse import gather_rows
from .algorithms.base import Recommender
from .algorithms.content import ContentBased
from .algorithms.cooccurrence import ItemCooccurrence
from .algorithms.ease import EASE
from .algorithms.hybrid import Hybrid
from .algorithms.popularity import Popularity
from .algorithms.session import SessionKNN

__all__ = ["OneRow", "aggregate", "one_row_scorer"]

Floats = npt.NDArray[np.float32]
_SUPPORTED = {"ease": EASE, "session": SessionKNN, "cooccurrence": ItemCooccurrence,
              "content": ContentBased, "popularity": Popularity}  # fmt: skip


def aggregate(
    cols: npt.NDArray[np.intp], values: npt.NDArray[np.floating[Any]]
) -> tuple[npt.NDArray[np.intp], Floats]:
    """A row's entries with one value per column (summed, float32), columns ascending:
    the data of the 1xn CSR row ``InteractionMatrix.row_at`` builds."""
    if cols.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
    unique, inverse = np.unique(cols, return_inverse=True)
    data = np.zeros(len(unique), dtype=np.float32)
    np.add.at(data, inverse.reshape(-1), values.astype(np.float32))
    return unique.astype(np.intp), data


def _normalized(scores: npt.NDArray[np.floating[Any]]) -> Floats:
    out = np.asarray(scores, dtype=np.float32)
    top = np.float32(np.abs(out).max()) if out.size else np.float32(0)
    return out / top if top > 0 else out


class OneRow:
    """The scores ``Hybrid.recommend`` gives one row, computed from its entries."""

    def __init__(self, model: Hybrid) -> None:
        self.model = model
        self.n_items = int(model.n_items_)
        weights = model._weights()
        self.weights = weights
        components = dict(model._components())
        ease, content = components.get("ease"), components.get("content")
        self.ease = ease if isinstance(ease, EASE) else None
        self.content = content if isinstance(content, ContentBased) else None
        self.neighbours: list[tuple[float, csr_matrix]] = []
        for name, component in components.items():
            if isinstance(component, ItemCooccurrence):
                self.neighbours.append((weights[name], component.similarity_))
            elif isinstance(component, SessionKNN):
                self.neighbours.append((weights[name], component.neighbours_.similarity_))
        popularity = components["popularity"]
        assert isinstance(popularity, Popularity)
        top = float(popularity.item_scores_.max()) if popularity.n_items_ else 0.0
        base = (popularity.item_scores_ / max(top, 1e-12)).astype(np.float32)
        self.popularity = _normalized(base)  # global (Hybrid's popularity is not per category)
        self.cold = model.cold_items_ if model.cold_items_.any() else None
        if self.ease is not None:
            position = np.full(self.ease.n_items_, -1, dtype=np.intp)
            position[self.ease.items_] = np.arange(len(self.ease.items_))
            self.ease_position = position
            self.ease_all = len(self.ease.items_) == self.ease.n_items_
            self.ease_scale = np.float32(model.ease_scale_)

    def recommend(
        self, cols: npt.NDArray[np.intp], data: Floats, n: int, allowed: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.intp], Floats]:
        """The ``n`` best allowed items and their scores, best first (ties: the lower
        index), as ``Hybrid.recommend(0, row, N=n, filter_already_liked_items=False,
        items=np.flatnonzero(allowed))``."""
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0 or n <= 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
        scores = self.scores(cols, data)[candidates]
        if n < scores.size:  # every item scoring at least the n-th best, then ranked
            bound = np.partition(scores, scores.size - n)[scores.size - n]
            kept = np.flatnonzero(scores >= bound)
        else:
            kept = np.arange(scores.size)
        best = kept[np.lexsort((kept, -scores[kept]))[:n]]
        best = best[scores[best] > -np.inf]
        return candidates[best], scores[best]

    def scores(self, cols: npt.NDArray[np.intp], data: Floats) -> Floats:
        """Every item's score for the row (columns ascending and unique, as
        :func:`aggregate` gives them)."""
        m, w = self.model, self.weights
        popularity = self.popularity
        if cols.size == 0:
            return popularity.copy()
        total = np.zeros(self.n_items, dtype=np.float32)
        if self.ease is not None:
            total += np.float32(w["ease"]) * self._ease(cols, data) * self.ease_scale
        positive = np.maximum(data, 0).astype(np.float64)
        for weight, similarity in self.neighbours:
            if weight > 0:
                total += np.float32(weight) * _normalized(gather_rows(cols, positive, similarity))
        content = None
        if self.content is not None:
            norm = max(float(positive.sum()), 1e-12)
            profile = gather_rows(cols, positive / norm, self.content.item_vectors_)
            content = _normalized(self.content.item_vectors_ @ profile)
            if w["content"] > 0:
                total += np.float32(w["content"]) * content
        if content is not None and self.cold is not None:
            total[self.cold] = np.float32(m.cold_start_weight) * content[self.cold]
        n = np.float32(cols.size)
        pop_weight = np.float32(w["popularity"])
        if m.thin_popularity > 0:
            scale = max(float(m.thin_history), 1e-9)
            pop_weight = np.float32(w["popularity"] + m.thin_popularity * scale / (scale + n))
        total += pop_weight * popularity
        return total

    def _ease(self, cols: npt.NDArray[np.intp], data: Floats) -> Floats:
        ease = self.ease
        assert ease is not None
        if ease.weighting == "binary":
            x = (data > 0).astype(np.float32)
        elif ease.weighting == "log":
            x = np.log1p(np.maximum(data, 0)).astype(np.float32)
        else:
            x = data
        if self.ease_all:
            return np.asarray(x @ ease.B_[cols], dtype=np.float32)
        pos = self.ease_position[cols]
        keep = pos >= 0
        out = np.zeros(self.n_items, dtype=np.float32)
        out[ease.items_] = x[keep] @ ease.B_[pos[keep]]
        return out


def one_row_scorer(model: Recommender) -> OneRow | None:
    """A :class:`OneRow` for a fitted Hybrid made of the components it knows, else None."""
    if type(model) is not Hybrid:
        return None
    components = dict(model._components())
    popularity = components.get("popularity")
    if not isinstance(popularity, Popularity) or popularity.by_category:
        return None
    for name, component in components.items():
        expected = _SUPPORTED.get(name)
        if expected is None or type(component) is not expected:
            return None
    return OneRow(model)
