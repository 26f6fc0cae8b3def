"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) through the ``implicit`` library."""

from __future__ import annotations

import os
from typing import Any, Self

import numpy as np
from scipy.sparse import csr_matrix

from .base import Recommender, Rows, Scores
from .ease import weigh

__all__ = ["ALS"]


class ALS(Recommender):
    """Matrix factorization of implicit feedback, fitted by ``implicit``'s CPU ALS.

    Only the factors are kept; they are saved in our ``.npz`` format, and the
    ``implicit`` model is rebuilt around them when needed (a new user's factor).

    Parameters
    ----------
    factors : int, default 64
    regularization : float, default 0.05
    alpha : float, default 10
        Confidence ``1 + alpha·w`` of an observed interaction.
    iterations : int, default 15
    weighting : {"binary", "log", "raw"}, default "log"
        How interaction weights enter (see :func:`~.ease.weigh`).
    num_threads : int, default 0
        Threads for fitting; 0 means one per CPU core, at most 4 (BLAS is held to one
        thread during the fit, as ``implicit`` recommends).
    random_state : int, default 0
        Seed of the initial factors: the same data and seed give the same model.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_users, factors)
    item_factors_ : ndarray of float32, shape (n_items, factors)
    n_items_ : int
    """

    _fitted_attr = "item_factors_"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        weighting: str = "log",
        num_threads: int = 0,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.num_threads = num_threads
        self.random_state = random_state

    def _threads(self) -> int:
        return self.num_threads if self.num_threads > 0 else min(4, os.cpu_count() or 1)

    def _implicit(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares  # heavy: imported when used
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        with threadpool_limits(1, "blas"):  # implicit warns at construction otherwise
            return AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=self._threads(),
                random_state=self.random_state,
            )

    def fit(self, user_items: csr_matrix, **_: Any) -> Self:
        """Factorize the usersxitems matrix."""
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        x = weigh(self._check_matrix(user_items), self.weighting)
        model = self._implicit()
        with threadpool_limits(1, "blas"):
            model.fit(x, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.n_items_ = x.shape[1]
        self._model = model
        return self

    def _inner(self) -> Any:
        if getattr(self, "_model", None) is None:
            model = self._implicit()
            model.user_factors = self.user_factors_
            model.item_factors = self.item_factors_
            self._model = model
        return self._model

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        known = userids < len(self.user_factors_)
        users = np.zeros((len(userids), self.item_factors_.shape[1]), dtype=np.float32)
        if not recalculate_user:
            users[known] = self.user_factors_[userids[known]]
        todo = np.flatnonzero(~known) if not recalculate_user else np.arange(len(userids))
        if todo.size:
            rows = weigh(user_items[todo], self.weighting)
            factors = self._inner().recalculate_user(userids[todo], rows)
            users[todo] = np.asarray(factors, dtype=np.float32).reshape(len(todo), -1)
        return np.asarray(users @ self.item_factors_.T, dtype=np.float32)

    def _similar(self, itemids: Rows) -> Scores:
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1e-10
        query = self.item_factors_[itemids] / norms[itemids, np.newaxis]
        return np.asarray((query @ self.item_factors_.T) / norms[np.newaxis, :], dtype=np.float32)
