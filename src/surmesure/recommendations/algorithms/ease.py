"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019), closed form."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.linalg import get_lapack_funcs
from scipy.sparse import csr_matrix

from .base import Recommender, Rows, Scores

__all__ = ["EASE", "weigh"]

WEIGHTINGS = ("binary", "log", "raw")


def weigh(user_items: csr_matrix, weighting: str) -> csr_matrix:
    """The interaction weights as a model sees them: 1, log(1 + w), or w itself."""
    out = csr_matrix(user_items, dtype=np.float32, copy=True)
    if weighting == "binary":
        out.data = (out.data > 0).astype(np.float32)
    elif weighting == "log":
        out.data = np.log1p(np.maximum(out.data, 0)).astype(np.float32)
    elif weighting != "raw":
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {weighting!r}")
    return out


class EASE(Recommender):
    """Item-item linear model ``B`` minimizing ``||X - XB||² + λ||B||²`` with ``diag(B) = 0``.

    The solution is closed form: ``P = (XᵀX + λI)⁻¹``, ``B = -P / diag(P)``. Fitting is
    one inversion of an itemsxitems matrix (float32, Cholesky): fine up to ~20k items
    (1.6 GB); beyond ``max_items`` only the most popular items are modelled and the others
    score below every modelled item.

    Parameters
    ----------
    lambda_ : float, default 200
        L2 regularization; larger for sparser data.
    weighting : {"binary", "log", "raw"}, default "log"
        How interaction weights enter ``X``.
    max_items : int or None, default 20000
        Most popular items modelled.

    Attributes
    ----------
    B_ : ndarray of float32, shape (n_modelled, n_modelled)
        Item-item weights; ``B_[i, j]``: how much having ``i`` predicts ``j``.
    items_ : ndarray of int64
        The modelled item indices (sorted).
    n_items_ : int
    """

    _fitted_attr = "B_"

    def __init__(
        self, *, lambda_: float = 200.0, weighting: str = "log", max_items: int | None = 20000
    ) -> None:
        self.lambda_ = lambda_
        self.weighting = weighting
        self.max_items = max_items

    def fit(self, user_items: csr_matrix, **_: Any) -> Self:
        """Solve for ``B`` on the usersxitems matrix."""
        x = weigh(self._check_matrix(user_items), self.weighting)
        n_items = x.shape[1]
        counts = np.bincount(x.indices, minlength=n_items)
        if self.max_items is not None and n_items > self.max_items:
            top = np.lexsort((np.arange(n_items), -counts))[: self.max_items]
            items = np.sort(top)
        else:
            items = np.arange(n_items)
        xs = x[:, items]
        gram = np.asarray((xs.T @ xs).todense(), dtype=np.float32)
        gram[np.diag_indices_from(gram)] += np.float32(self.lambda_)
        precision = _spd_inverse(gram)
        b = precision / (-np.diag(precision))[np.newaxis, :]
        b[np.diag_indices_from(b)] = 0.0
        self.B_ = b.astype(np.float32, copy=False)
        self.items_ = items.astype(np.int64)
        self.n_items_ = n_items
        return self

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        x = weigh(user_items, self.weighting)
        if len(self.items_) == self.n_items_:  # every item modelled: no column slicing (serving path)
            return np.asarray(x @ self.B_, dtype=np.float32)
        modelled = np.asarray(x[:, self.items_] @ self.B_, dtype=np.float32)
        low = (modelled.min(axis=1, keepdims=True) if modelled.size else np.zeros((len(userids), 1))) - 1.0
        out = np.repeat(low.astype(np.float32), self.n_items_, axis=1)
        out[:, self.items_] = modelled
        return out

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        out = np.zeros((len(itemids), self.n_items_), dtype=np.float32)
        pos = np.searchsorted(self.items_, itemids)
        pos = np.minimum(pos, len(self.items_) - 1)
        found = self.items_[pos] == itemids
        out[np.ix_(np.flatnonzero(found), self.items_)] = self.B_[pos[found]]
        return out


def _spd_inverse(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Inverse of a symmetric positive definite matrix through Cholesky (about 3x less
    work than a general inverse), in the matrix's own precision."""
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"the Gram matrix is not positive definite (potrf info {info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (potri info {info})")
    upper = np.triu(inverse)
    upper += np.triu(upper, 1).T
    return np.asarray(upper, dtype=matrix.dtype)
