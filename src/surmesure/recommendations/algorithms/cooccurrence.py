"""Item-to-item co-occurrence: "viewed together", "bought together"."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from ._sparse import binary, row_times, top_k_per_row
from .base import Recommender, Rows, Scores

__all__ = ["ItemCooccurrence"]

SIMILARITIES = ("cosine", "lift", "jaccard", "conditional")


class ItemCooccurrence(Recommender):
    """Items that the same people interacted with, normalized, top-k neighbours kept.

    Fit it on a matrix of views for "viewed together", of purchases for "bought
    together" (``InteractionMatrix(weights={"purchase": 1})``), or on sessions.

    Parameters
    ----------
    similarity : {"cosine", "lift", "jaccard", "conditional"}, default "cosine"
        How the co-occurrence count ``c_ij`` is normalized by the item counts
        ``n_i``, ``n_j``: ``c/sqrt(n_i n_j)``, ``c·U/(n_i n_j)``, ``c/(n_i+n_j-c)``,
        ``c/n_i`` (how often ``j`` comes with ``i``).
    k : int, default 100
        Neighbours kept per item.
    shrink : float, default 10
        Added to the denominator so that a pair seen twice is not "very similar".
    min_count : int, default 1
        Pairs seen fewer times are dropped.

    Attributes
    ----------
    similarity_ : csr_matrix of float32, shape (n_items, n_items)
        Row ``i``: the neighbours of item ``i`` and their similarity.
    item_counts_ : ndarray of int64, shape (n_items,)
        Number of people per item.
    n_items_ : int
    """

    def __init__(
        self, *, similarity: str = "cosine", k: int = 100, shrink: float = 10.0, min_count: int = 1
    ) -> None:
        self.similarity = similarity
        self.k = k
        self.shrink = shrink
        self.min_count = min_count

    def fit(self, user_items: csr_matrix, **_: Any) -> Self:
        """Count co-occurrences of the usersxitems matrix and keep the top-k neighbours."""
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, not {self.similarity!r}")
        x = binary(self._check_matrix(user_items))
        counts = np.asarray(x.sum(axis=0)).reshape(-1).astype(np.float64)
        co = (x.T @ x).tocoo()
        keep = (co.row != co.col) & (co.data >= self.min_count)
        r, c, d = co.row[keep], co.col[keep], co.data[keep].astype(np.float64)
        ni, nj = counts[r], counts[c]
        if self.similarity == "cosine":
            s = d / (np.sqrt(ni * nj) + self.shrink)
        elif self.similarity == "lift":
            s = d * x.shape[0] / (ni * nj + self.shrink)
        elif self.similarity == "jaccard":
            s = d / (ni + nj - d + self.shrink)
        else:
            s = d / (ni + self.shrink)
        n = x.shape[1]
        self.similarity_ = top_k_per_row(csr_matrix((s, (r, c)), shape=(n, n)), self.k)
        self.item_counts_ = counts.astype(np.int64)
        self.n_items_ = n
        return self

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        if user_items.shape[0] == 1:  # serving: add up the neighbour rows of the visitor's items
            return row_times(user_items, self.similarity_).astype(np.float32)[np.newaxis, :]
        return np.asarray((user_items @ self.similarity_).todense(), dtype=np.float32)

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        return np.asarray(self.similarity_[itemids].todense(), dtype=np.float32)
