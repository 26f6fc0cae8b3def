"""Popularity: global, trending (time-decayed), and per category."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from .base import Recommender, Rows, Scores

__all__ = ["Popularity"]

_DAY_MS = 86_400_000


class Popularity(Recommender):
    """Items ranked by how many people interacted with them.

    Parameters
    ----------
    half_life_days : float or None, default None
        ``None``: all-time popularity. A number: trending — each person's interaction
        counts ``0.5 ** (age / half_life_days)``, where the age comes from the
        ``timestamps_ms`` given to ``fit``.
    by_category : bool, default False
        Personalize by category: an item's score is its popularity within its category
        times the user's share of interactions in that category (plus a small global
        term so that every item is ranked). Needs ``item_categories`` at fit.
    global_weight : float, default 0.05
        With ``by_category``, the weight of global popularity in the blend.

    Attributes
    ----------
    item_scores_ : ndarray of float32, shape (n_items,)
        Popularity (or trending score) of each item.
    item_users_ : ndarray of int32, shape (n_items,)
        Number of people who interacted with each item.
    item_categories_ : ndarray of int64, shape (n_items,)
        Category code per item (-1 unknown); all -1 without categories.
    n_items_ : int
    """

    def __init__(
        self, *, half_life_days: float | None = None, by_category: bool = False, global_weight: float = 0.05
    ) -> None:
        self.half_life_days = half_life_days
        self.by_category = by_category
        self.global_weight = global_weight

    def fit(
        self,
        user_items: csr_matrix,
        *,
        item_categories: npt.ArrayLike | None = None,
        timestamps_ms: csr_matrix | None = None,
        now_ms: int | None = None,
        **_: Any,
    ) -> Self:
        """Count people per item.

        Parameters
        ----------
        user_items : csr_matrix (n_users, n_items)
        item_categories : array_like of int, optional
            A category code per item (-1 unknown), e.g. ``ItemTable.codes("category")``.
        timestamps_ms : csr_matrix, optional
            Same pattern as ``user_items``: when each interaction last happened
            (``InteractionMatrix.last_ms_``); used when ``half_life_days`` is set.
        now_ms : int, optional
            Reference time of the decay (default: the latest timestamp).
        """
        matrix = self._check_matrix(user_items)
        n_items = matrix.shape[1]
        positive = matrix.data > 0
        cols = matrix.indices[positive]
        self.item_users_ = np.bincount(cols, minlength=n_items).astype(np.int32)
        if self.half_life_days is not None and timestamps_ms is not None:
            stamps = self._check_matrix(timestamps_ms)
            if stamps.shape != matrix.shape:
                raise ValueError("timestamps_ms must have the shape of user_items")
            times = _aligned(matrix, stamps)[positive]
            ref = float(now_ms if now_ms is not None else (times.max() if times.size else 0.0))
            decay = np.exp2(-np.maximum(ref - times, 0.0) / (self.half_life_days * _DAY_MS))
            scores = np.bincount(cols, weights=decay, minlength=n_items)
        else:
            scores = self.item_users_.astype(np.float64)
        self.item_scores_ = scores.astype(np.float32)
        if item_categories is None:
            self.item_categories_ = np.full(n_items, -1, dtype=np.int64)
        else:
            self.item_categories_ = np.asarray(item_categories, dtype=np.int64).reshape(n_items)
        self.n_items_ = n_items
        return self

    def _within_category(self) -> Scores:
        cats = self.item_categories_
        known = cats >= 0
        best = np.zeros(int(cats.max()) + 1 if known.any() else 0, dtype=np.float64)
        np.maximum.at(best, cats[known], self.item_scores_[known])
        out = np.zeros(self.n_items_, dtype=np.float32)
        out[known] = self.item_scores_[known] / np.maximum(best[cats[known]], 1e-12)
        return out

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        top = float(self.item_scores_.max()) if self.n_items_ else 0.0
        base = self.item_scores_ / max(top, 1e-12)
        if not self.by_category or not (self.item_categories_ >= 0).any():
            return np.broadcast_to(base, (len(userids), self.n_items_)).astype(np.float32)
        cats = self.item_categories_
        n_cats = int(cats.max()) + 1
        known = cats >= 0
        # share of each user's interaction weight per category
        onehot = csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (np.flatnonzero(known), cats[known])),
            shape=(self.n_items_, n_cats),
        )
        affinity = np.asarray((abs(user_items) @ onehot).todense(), dtype=np.float32)
        affinity /= np.maximum(affinity.sum(axis=1, keepdims=True), 1e-12)
        within = self._within_category()
        personal = np.where(known, affinity[:, np.maximum(cats, 0)], 0.0) * within
        return (personal + self.global_weight * base).astype(np.float32)

    def top_in_category(self, category: int, N: int = 10) -> tuple[npt.NDArray[np.int32], Scores]:
        """The ``N`` most popular (or trending) items of one category code."""
        self._check_fitted()
        members = np.flatnonzero(self.item_categories_ == category)
        order = np.lexsort((members, -self.item_scores_[members]))[:N]
        return members[order].astype(np.int32), self.item_scores_[members[order]]


def _aligned(matrix: csr_matrix, stamps: csr_matrix) -> npt.NDArray[np.float64]:
    """The value of ``stamps`` at each stored cell of ``matrix``, in ``matrix.data`` order."""
    if np.array_equal(matrix.indptr, stamps.indptr) and np.array_equal(matrix.indices, stamps.indices):
        return np.asarray(stamps.data, dtype=np.float64)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return np.asarray(stamps[rows, matrix.indices], dtype=np.float64).reshape(-1)
