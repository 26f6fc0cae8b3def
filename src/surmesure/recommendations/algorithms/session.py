"""Session-based recommendations for anonymous visitors, from the current session's
items alone (session k-nearest-neighbours over session co-occurrence)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from ._sparse import row_times, session_row
from .base import Ids, Recommender, Rows, Scores
from .cooccurrence import ItemCooccurrence

__all__ = ["SessionKNN"]


class SessionKNN(Recommender):
    """Items that co-occur with the session's items in past sessions, the latest
    session items counting most.

    Fit it on a sessionsxitems matrix (``InteractionMatrix`` over
    :func:`~surmesure.recommendations.interactions.sessionize` keys); a usersxitems
    matrix works too (coarser "sessions").

    Parameters
    ----------
    k : int, default 100
        Neighbours kept per item.
    shrink : float, default 5
        Shrinkage of the cosine between items.
    half_life_steps : float, default 2
        In :meth:`recommend_session`, an item ``s`` steps before the last one weighs
        ``0.5 ** (s / half_life_steps)``.

    Attributes
    ----------
    neighbours_ : ItemCooccurrence
        The fitted session co-occurrence.
    n_items_ : int
    """

    def __init__(self, *, k: int = 100, shrink: float = 5.0, half_life_steps: float = 2.0) -> None:
        self.k = k
        self.shrink = shrink
        self.half_life_steps = half_life_steps

    def fit(self, user_items: csr_matrix, **_: Any) -> Self:
        """Learn item neighbours from the rows (sessions) of the matrix."""
        matrix = self._check_matrix(user_items)
        self.neighbours_ = ItemCooccurrence(similarity="cosine", k=self.k, shrink=self.shrink).fit(matrix)
        self.n_items_ = matrix.shape[1]
        return self

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        weights = csr_matrix(user_items, dtype=np.float32, copy=True)
        weights.data = np.maximum(weights.data, 0)
        if weights.shape[0] == 1:  # serving: add up the neighbour rows of the visitor's items
            return row_times(weights, self.neighbours_.similarity_).astype(np.float32)[np.newaxis, :]
        return np.asarray((weights @ self.neighbours_.similarity_).todense(), dtype=np.float32)

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        return self.neighbours_._similar(itemids)

    def recommend_session(
        self,
        items: npt.ArrayLike,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: npt.ArrayLike | None = None,
    ) -> tuple[Ids, Scores]:
        """Recommend from a list of item indices, in the order they were viewed."""
        self._check_fitted()
        row = session_row(items, self.n_items_, self.half_life_steps)
        return self.recommend(0, row, N, filter_already_liked_items, filter_items)
