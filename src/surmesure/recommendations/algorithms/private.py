"""Differentially private EASE: the item-item Gram matrix of bounded, binary
contributions, released with calibrated noise (docs/audit.md, "Private training").

The mechanism, per person (the unit of privacy: one person's whole history):

1. **Bound contributions.** A person's row is made binary and cut to at most ``c``
   items (``max_items_per_person``, a seeded random sample; the choice depends on no
   one else's data).
2. **Sensitivity.** The Gram matrix ``G = XᵀX`` is a sum over people of ``x xᵀ``. Adding
   or removing one person changes the released upper triangle (diagonal included) in at
   most ``c(c+1)/2`` cells, each by 1: L1 sensitivity ``c(c+1)/2``, L2 sensitivity
   ``sqrt(c(c+1)/2)``.
3. **Noise.** Laplace noise of scale ``L1/ε`` gives ε-DP; Gaussian noise calibrated by
   the analytic Gaussian mechanism (Balle & Wang, 2018) gives (ε, δ)-DP for every ε.
   The upper triangle is drawn, then mirrored.
4. **Post-processing** (free under DP): when more items exist than ``max_items``, the
   modelled items are the most frequent by the *noisy* diagonal; the noisy matrix is
   projected on the positive semi-definite cone when it is not, then ``λ`` (plus, with
   ``noise_regularization``, ``sigma·sqrt(n)``, a bound of the noise's spectral norm that
   depends only on ε) is added to the diagonal and EASE's closed form applied.

Serving reads only the person's own row, which never leaves the server. ``epsilon=inf``
with ``max_items_per_person=None`` is exactly ``EASE(weighting="binary")``.
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from .ease import EASE, _spd_inverse, weigh
from .hybrid import Hybrid

__all__ = [
    "PrivateEASE",
    "bound_contributions",
    "gaussian_sigma",
    "noise_scale",
    "noisy_gram",
    "with_private_ease",
]

MECHANISMS = ("gaussian", "laplace")


def bound_contributions(x: csr_matrix, c: int | None, rng: np.random.Generator) -> csr_matrix:
    """Each row keeps at most ``c`` of its nonzero columns (a uniform random sample)."""
    x = csr_matrix(x, dtype=np.float32, copy=True)
    if c is None:
        return x
    counts = np.diff(x.indptr)
    if counts.size == 0 or counts.max() <= c:
        return x
    keep = np.ones(x.nnz, dtype=bool)
    for row in np.flatnonzero(counts > c):
        start, end = x.indptr[row], x.indptr[row + 1]
        drop = rng.choice(end - start, size=end - start - c, replace=False)
        keep[start + drop] = False
    x.data = np.where(keep, x.data, 0).astype(np.float32)
    x.eliminate_zeros()
    return x


def _phi(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The smallest sigma of the analytic Gaussian mechanism (Balle & Wang 2018, Thm 8):
    ``Φ(Δ/2sigma - εsigma/Δ) - e^ε Φ(-Δ/2sigma - εsigma/Δ) ≤ δ``, found by bisection."""

    def leak(sigma: float) -> float:
        a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
        return _phi(a - b) - math.exp(epsilon) * _phi(-a - b)

    low, high = 1e-6 * sensitivity, sensitivity
    while leak(high) > delta:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if leak(mid) > delta else (low, mid)
    return high


def noise_scale(epsilon: float, delta: float, mechanism: str, c: int) -> float:
    """The noise's scale on each cell: Laplace ``b`` or Gaussian ``sigma`` (0 for ε = inf)."""
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, not {mechanism!r}")
    if math.isinf(epsilon):
        return 0.0
    cells = c * (c + 1) / 2
    if mechanism == "laplace":
        return cells / epsilon
    return gaussian_sigma(epsilon, delta, math.sqrt(cells))


def noisy_gram(
    x: csr_matrix, scale: float, mechanism: str, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``XᵀX`` plus symmetric noise of ``scale`` (upper triangle drawn, then mirrored)."""
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    if scale <= 0:
        return gram
    n = gram.shape[0]
    rows, cols = np.triu_indices(n)
    if mechanism == "laplace":
        draws = rng.laplace(0.0, scale, size=rows.size)
    else:
        draws = rng.normal(0.0, scale, size=rows.size)
    noise = np.zeros((n, n))
    noise[rows, cols] = draws
    noise[cols, rows] = draws
    return gram + noise


def _psd(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values, vectors = np.linalg.eigh(matrix)
    if values.min() >= 0:
        return matrix
    out: npt.NDArray[np.float64] = (vectors * np.maximum(values, 0.0)) @ vectors.T
    return out


class PrivateEASE(EASE):
    """EASE fitted on a differentially private Gram matrix (see the module's docstring).

    Parameters
    ----------
    epsilon : float, default 4
        Privacy budget per person; ``inf``: no noise.
    delta : float, default 1e-6
        The Gaussian mechanism's δ (unused by Laplace).
    mechanism : {"gaussian", "laplace"}, default "gaussian"
    max_items_per_person : int or None, default 32
        Contributions kept per person (``c``); None keeps all (then no noise is allowed).
    lambda_, max_items : as :class:`EASE`.
    selection_share : float, default 0.1
        Share of ε spent choosing the ``max_items`` modelled items (only when there are more).
    noise_regularization : bool, default True
        Add ``sigma·sqrt(n)`` to ``λ`` (sigma the noise's standard deviation, n the items).
    random_state : int or None, default 0

    Attributes
    ----------
    B_, items_, n_items_ : as :class:`EASE`.
    noise_scale_ : float
        The scale of the noise added to the Gram matrix (Laplace b or Gaussian sigma).
    """

    #: contributions are counted once: the sensitivity holds for binary rows only
    weighting = "binary"

    def __init__(
        self,
        *,
        epsilon: float = 4.0,
        delta: float = 1e-6,
        mechanism: str = "gaussian",
        max_items_per_person: int | None = 32,
        lambda_: float = 200.0,
        max_items: int | None = 20000,
        selection_share: float = 0.1,
        noise_regularization: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.lambda_ = lambda_
        self.max_items = max_items
        self.epsilon = epsilon
        self.delta = delta
        self.mechanism = mechanism
        self.max_items_per_person = max_items_per_person
        self.selection_share = selection_share
        self.noise_regularization = noise_regularization
        self.random_state = random_state

    def fit(self, user_items: csr_matrix, **_: Any) -> Self:
        """Bound, count, add noise, project, solve."""
        private = not math.isinf(self.epsilon)
        if private and self.max_items_per_person is None:
            raise ValueError("a finite epsilon needs max_items_per_person (bounded contributions)")
        rng = np.random.default_rng(self.random_state)
        x = bound_contributions(
            weigh(self._check_matrix(user_items), "binary"), self.max_items_per_person, rng
        )
        n_items = x.shape[1]
        c = self.max_items_per_person or 1
        epsilon = self.epsilon
        items = np.arange(n_items)
        if self.max_items is not None and n_items > self.max_items:
            counts = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
            if private:
                # each person adds 1 to at most c counts: L1 sensitivity c
                spent = epsilon * self.selection_share
                counts = counts + rng.laplace(0.0, c / spent, size=n_items)
                epsilon -= spent
            top = np.lexsort((np.arange(n_items), -counts))[: self.max_items]
            items = np.sort(top)
        scale = noise_scale(epsilon, self.delta, self.mechanism, c) if private else 0.0
        gram = noisy_gram(x[:, items], scale, self.mechanism, rng)
        lam = float(self.lambda_)
        if scale > 0:
            gram = _psd(gram)
            std = scale * math.sqrt(2.0) if self.mechanism == "laplace" else scale
            if self.noise_regularization:
                lam += std * math.sqrt(len(items))
        gram[np.diag_indices_from(gram)] += lam
        gram32 = gram.astype(np.float32)
        precision = _spd_inverse(gram32)
        b = precision / (-np.diag(precision))[np.newaxis, :]
        b[np.diag_indices_from(b)] = 0.0
        self.B_ = b.astype(np.float32, copy=False)
        self.items_ = items.astype(np.int64)
        self.n_items_ = n_items
        self.noise_scale_ = float(scale)
        return self


def with_private_ease(model: Hybrid, user_items: csr_matrix, **params: Any) -> Hybrid:
    """A fitted :class:`Hybrid` whose EASE part is replaced by a :class:`PrivateEASE`
    (``params``; its ``lambda_`` and ``max_items`` default to the hybrid's) fitted on the
    same matrix, and the EASE scale learned again. The other parts are unchanged: they
    read aggregates (popularity, sessions, content), not the item-item matrix."""
    if model.ease_ is None:
        return model
    options = {"lambda_": model.ease_lambda, "max_items": model.max_items, **params}
    model.ease_ = PrivateEASE(**options).fit(user_items)
    model.ease_scale_ = model._ease_scale(csr_matrix(user_items))
    return model
