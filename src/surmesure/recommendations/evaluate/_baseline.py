"""The popularity baseline every evaluation reports against, and the "obvious" lists
serendipity is measured from. Same ``fit``/``recommend`` semantics as ``implicit``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from surmesure.errors import Conflict, InvalidInput

__all__ = ["MostPopular"]


class MostPopular:
    """Items ranked by how many people interacted with them in train (ties: lower index).

    Parameters
    ----------
    by : ``"users"`` counts distinct people; ``"weight"`` sums the matrix values.
    """

    def __init__(self, *, by: str = "users") -> None:
        if by not in ("users", "weight"):
            raise InvalidInput("by must be 'users' or 'weight'", by=by)
        self.by = by

    def fit(self, user_items: csr_matrix) -> MostPopular:
        m = csr_matrix(user_items)
        if self.by == "users":
            scores = np.diff(m.tocsc().indptr).astype(np.float32)
        else:
            scores = np.asarray(m.sum(axis=0), dtype=np.float32).ravel()
        self.scores_ = scores
        self.ranking_ = np.lexsort((np.arange(scores.size), -scores)).astype(np.int64)
        return self

    def recommend(
        self,
        userid: Any,
        user_items: csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: npt.ArrayLike | None = None,
        items: npt.ArrayLike | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        if not hasattr(self, "ranking_"):
            raise Conflict("MostPopular.recommend was called before fit")
        if items is not None and filter_items is not None:
            raise InvalidInput("cannot set both items and filter_items")
        scalar = np.isscalar(userid)
        n_rows = 1 if scalar else len(np.asarray(userid))
        seen = csr_matrix(user_items)
        ranking = self.ranking_
        if items is not None:
            allowed = np.zeros(self.scores_.size, dtype=bool)
            allowed[np.asarray(items, dtype=np.int64)] = True
            ranking = ranking[allowed[ranking]]
        if filter_items is not None:
            banned = np.zeros(self.scores_.size, dtype=bool)
            banned[np.asarray(filter_items, dtype=np.int64)] = True
            ranking = ranking[~banned[ranking]]
        width = min(N, ranking.size)
        ids = np.full((n_rows, width), -1, dtype=np.int64)
        for row in range(n_rows):
            candidates = ranking
            if filter_already_liked_items:
                liked = seen.indices[seen.indptr[row] : seen.indptr[row + 1]]
                candidates = ranking[: width + liked.size]
                candidates = candidates[~np.isin(candidates, liked)]
            top = candidates[:width]
            ids[row, : top.size] = top
        scores = np.where(ids >= 0, self.scores_[np.maximum(ids, 0)], -np.inf).astype(np.float32)
        if scalar:
            return ids[0], scores[0]
        return ids, scores
