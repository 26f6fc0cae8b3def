"""Bandits that pick a variant per decision and say with which probability.

* :class:`BernoulliThompson` — Beta posteriors per arm (clicks as successes).
* :class:`LinearThompson` — a Gaussian posterior on a ridge regression per arm, on the
  person's feature vector (Agrawal and Goyal 2013).
* :class:`LinUCB` — the ridge estimate plus ``alpha`` times its standard deviation
  (Li, Chu, Langford and Schapire 2010), deterministic.

Every policy computes a **probability for each arm**, bounds it with
:func:`bound_probabilities` (a floor keeps exploring, a ceiling keeps any arm from taking
all traffic), and draws the arm from that vector. The logged propensity is therefore the
exact probability the arm was drawn with, which off-policy evaluation needs.

For Thompson sampling, "the probability that an arm has the highest sampled value" has no
closed form beyond two arms; it is estimated by Monte-Carlo with a fixed number of
posterior draws (``n_draws``, 10,000 by default: standard error below 0.005) from the
policy's seeded generator, and computed exactly for two Bernoulli arms (one-dimensional
integration). Drawing the arm from that vector — rather than from one fresh posterior
draw — has the same distribution up to the Monte-Carlo error and makes the propensity
exact by construction.

Updates are incremental: Beta counts are added, and each linear arm keeps ``A^-1`` up to
date with the Sherman-Morrison formula, so a batch of feedback costs ``O(batch d^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate
from scipy import stats as _st

__all__ = ["BernoulliThompson", "Decision", "LinUCB", "LinearThompson", "bound_probabilities"]

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Decision:
    """The arm chosen, the probability it was chosen with, and every arm's probability."""

    arm: int
    propensity: float
    probabilities: tuple[float, ...]


def bound_probabilities(p: ArrayLike, floor: float = 0.0, ceiling: float = 1.0) -> Floats:
    """Project a probability vector onto ``floor <= q_i <= ceiling, sum q = 1``.

    The projection (Euclidean) is ``q_i = clip(p_i + t, floor, ceiling)`` with the shift
    ``t`` found by bisection; it moves as little probability as possible and keeps the
    order of the arms. Needs ``k * floor <= 1 <= k * ceiling``.
    """
    v = np.asarray(p, dtype=float)
    k = v.size
    if k == 0 or np.any(v < 0) or not np.isfinite(v).all():
        raise ValueError("probabilities must be finite and non-negative")
    if not (0.0 <= floor <= ceiling <= 1.0) or k * floor > 1.0 + 1e-12 or k * ceiling < 1.0 - 1e-12:
        raise ValueError("need 0 <= floor <= ceiling <= 1 and k * floor <= 1 <= k * ceiling")
    total = v.sum()
    v = v / total if total > 0 else np.full(k, 1.0 / k)
    if floor <= v.min() and v.max() <= ceiling:
        return v
    lo, hi = -1.0 - ceiling, 1.0 + ceiling
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.clip(v + mid, floor, ceiling).sum() < 1.0:
            lo = mid
        else:
            hi = mid
    q = np.clip(v + hi, floor, ceiling)
    free = (q > floor) & (q < ceiling)
    if free.any():  # put the bisection's last ulp of error on arms not at a bound
        q[free] += (1.0 - q.sum()) / free.sum()
    return np.asarray(q, dtype=float)


class _Policy:
    """Shared plumbing: the seeded generator, the bounds and drawing from a vector."""

    def __init__(self, n_arms: int, floor: float, ceiling: float, seed: int | None) -> None:
        if n_arms < 1:
            raise ValueError("need at least one arm")
        bound_probabilities(np.ones(n_arms), floor, ceiling)  # validates the bounds
        self.n_arms = n_arms
        self.floor = floor
        self.ceiling = ceiling
        self.rng_ = np.random.default_rng(seed)

    def _draw(self, probabilities: Floats) -> Decision:
        q = bound_probabilities(probabilities, self.floor, self.ceiling)
        arm = int(self.rng_.choice(self.n_arms, p=q))
        return Decision(arm, float(q[arm]), tuple(float(x) for x in q))


def _argmax_frequencies(samples: Floats) -> Floats:
    """Share of rows (draws) in which each column is the largest, ties split evenly."""
    top = samples.max(axis=1, keepdims=True)
    winners = samples == top
    weights = winners / winners.sum(axis=1, keepdims=True)
    return np.asarray(weights.mean(axis=0), dtype=float)


class BernoulliThompson(_Policy):
    """Thompson sampling over variants with Beta(alpha, beta) posteriors.

    Parameters
    ----------
    n_arms : int
        Number of variants.
    prior_alpha, prior_beta : float
        Beta prior shared by every arm (1, 1 is uniform).
    floor, ceiling : float
        Bounds on each arm's probability (see :func:`bound_probabilities`).
    n_draws : int
        Posterior draws per propensity estimate (more than two arms).
    seed : int or None
        Seed of the policy's generator (draws and choices).
    """

    def __init__(
        self,
        n_arms: int,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        floor: float = 0.0,
        ceiling: float = 1.0,
        n_draws: int = 10_000,
        seed: int | None = 0,
    ) -> None:
        super().__init__(n_arms, floor, ceiling, seed)
        if prior_alpha <= 0 or prior_beta <= 0:
            raise ValueError("Beta priors must be positive")
        self.n_draws = n_draws
        self.alpha_: Floats = np.full(n_arms, float(prior_alpha))
        self.beta_: Floats = np.full(n_arms, float(prior_beta))
        self._probabilities: Floats | None = None

    def update(self, arms: ArrayLike, rewards: ArrayLike) -> BernoulliThompson:
        """Add a batch of feedback: ``rewards[i]`` in ``[0, 1]`` for ``arms[i]``."""
        a = np.asarray(arms, dtype=int).ravel()
        r = np.asarray(rewards, dtype=float).ravel()
        if a.shape != r.shape or np.any((r < 0) | (r > 1)) or np.any((a < 0) | (a >= self.n_arms)):
            raise ValueError("need one reward in [0, 1] per arm index")
        np.add.at(self.alpha_, a, r)
        np.add.at(self.beta_, a, 1.0 - r)
        self._probabilities = None
        return self

    def probabilities(self) -> Floats:
        """Probability that each arm's posterior draw is the largest (before bounds).

        Computed once per posterior and kept until the next :meth:`update`, so every
        decision between two batches of feedback uses (and logs) the same vector.
        """
        if self._probabilities is None:
            if self.n_arms == 1:
                self._probabilities = np.ones(1)
            elif self.n_arms == 2:
                self._probabilities = _two_beta(self.alpha_, self.beta_)
            else:
                draws = self.rng_.beta(self.alpha_, self.beta_, size=(self.n_draws, self.n_arms))
                self._probabilities = _argmax_frequencies(draws)
        return self._probabilities.copy()

    def decide(self) -> Decision:
        """Choose an arm; its propensity is the bounded probability it was drawn with."""
        return self._draw(self.probabilities())

    def state(self) -> dict[str, list[float]]:
        """The learned posterior as JSON-ready lists (what a store keeps; no pickle)."""
        return {"alpha": self.alpha_.tolist(), "beta": self.beta_.tolist()}

    def load_state(self, state: dict[str, list[float]]) -> BernoulliThompson:
        """Restore a posterior saved by :meth:`state` (same number of arms)."""
        alpha, beta = np.asarray(state["alpha"], dtype=float), np.asarray(state["beta"], dtype=float)
        if alpha.shape != (self.n_arms,) or beta.shape != (self.n_arms,):
            raise ValueError("the state does not match the number of arms")
        self.alpha_, self.beta_, self._probabilities = alpha, beta, None
        return self


def _two_beta(alpha: Floats, beta: Floats) -> Floats:
    """Exact ``P(theta_1 > theta_0)`` for two Beta posteriors, by quadrature."""
    f0 = _st.beta(alpha[0], beta[0])
    f1 = _st.beta(alpha[1], beta[1])
    p1, _ = integrate.quad(lambda x: f1.pdf(x) * f0.cdf(x), 0.0, 1.0, limit=200)
    p1 = float(np.clip(p1, 0.0, 1.0))
    return np.array([1.0 - p1, p1])


class _Ridge(_Policy):
    """Per-arm ridge regression ``A = lambda I + sum x x^T``, ``b = sum r x``, kept as ``A^-1``."""

    def __init__(self, n_arms: int, dim: int, ridge: float, floor: float, ceiling: float, seed: int | None):
        super().__init__(n_arms, floor, ceiling, seed)
        if dim < 1 or ridge <= 0:
            raise ValueError("need dim >= 1 and ridge > 0")
        self.dim = dim
        self.ridge = ridge
        self.a_inv_: Floats = np.repeat(np.eye(dim)[None] / ridge, n_arms, axis=0)
        self.b_: Floats = np.zeros((n_arms, dim))

    def _context(self, x: ArrayLike) -> Floats:
        v = np.asarray(x, dtype=float).ravel()
        if v.size != self.dim:
            raise ValueError(f"expected {self.dim} features, got {v.size}")
        return v

    def update(self, arms: ArrayLike, contexts: ArrayLike, rewards: ArrayLike) -> _Ridge:
        """Add a batch: ``contexts[i]`` (length ``dim``) was shown ``arms[i]`` and got ``rewards[i]``."""
        a = np.asarray(arms, dtype=int).ravel()
        xs = np.asarray(contexts, dtype=float).reshape(a.size, self.dim)
        r = np.asarray(rewards, dtype=float).ravel()
        if r.size != a.size or np.any((a < 0) | (a >= self.n_arms)):
            raise ValueError("need one context and one reward per arm index")
        for arm, x, reward in zip(a, xs, r, strict=True):
            inv = self.a_inv_[arm]
            ax = inv @ x
            inv -= np.outer(ax, ax) / (1.0 + x @ ax)  # Sherman-Morrison
            self.b_[arm] += reward * x
        return self

    def fit(self, arms: ArrayLike, contexts: ArrayLike, rewards: ArrayLike) -> _Ridge:
        """Start again from the prior and learn a whole log at once: per arm
        ``A = lambda I + X^T X`` inverted once, ``b = X^T r`` (what ``update`` gives, in
        ``O(n d^2 + d^3)`` with NumPy instead of a Python loop)."""
        a = np.asarray(arms, dtype=int).ravel()
        xs = np.asarray(contexts, dtype=float).reshape(a.size, self.dim)
        r = np.asarray(rewards, dtype=float).ravel()
        if r.size != a.size or np.any((a < 0) | (a >= self.n_arms)):
            raise ValueError("need one context and one reward per arm index")
        eye = np.eye(self.dim) * self.ridge
        for arm in range(self.n_arms):
            x, y = xs[a == arm], r[a == arm]
            self.a_inv_[arm] = np.linalg.inv(eye + x.T @ x)
            self.b_[arm] = x.T @ y
        return self

    def state(self) -> dict[str, list[list[list[float]]] | list[list[float]]]:
        """``A^-1`` and ``b`` per arm as JSON-ready lists (what a store keeps; no pickle)."""
        return {"a_inv": self.a_inv_.tolist(), "b": self.b_.tolist()}

    def load_state(self, state: dict[str, list[list[list[float]]] | list[list[float]]]) -> _Ridge:
        """Restore a model saved by :meth:`state` (same arms and features)."""
        a_inv, b = np.asarray(state["a_inv"], dtype=float), np.asarray(state["b"], dtype=float)
        if a_inv.shape != self.a_inv_.shape or b.shape != self.b_.shape:
            raise ValueError("the state does not match the number of arms and features")
        self.a_inv_, self.b_ = a_inv, b
        return self

    def theta(self) -> Floats:
        """The ridge estimates, one row per arm."""
        return np.asarray(np.einsum("kij,kj->ki", self.a_inv_, self.b_), dtype=float)

    def _mean_and_sd(self, x: Floats) -> tuple[Floats, Floats]:
        mean = self.theta() @ x
        var = np.einsum("i,kij,j->k", x, self.a_inv_, x)
        return mean, np.sqrt(np.maximum(var, 0.0))


class LinearThompson(_Ridge):
    """Linear Thompson sampling: ``theta_a ~ N(theta_hat_a, v^2 A_a^-1)`` per arm.

    For one context the arms' sampled scores are independent normals
    ``N(theta_hat_a . x, v^2 x^T A_a^-1 x)``, so the propensity is a Monte-Carlo over
    ``n_draws`` scalar draws per arm.
    """

    def __init__(
        self,
        n_arms: int,
        dim: int,
        v: float = 1.0,
        ridge: float = 1.0,
        floor: float = 0.0,
        ceiling: float = 1.0,
        n_draws: int = 10_000,
        seed: int | None = 0,
    ) -> None:
        super().__init__(n_arms, dim, ridge, floor, ceiling, seed)
        self.v = v
        self.n_draws = n_draws

    def probabilities(self, context: ArrayLike) -> Floats:
        """Probability that each arm's sampled score is the largest for this context."""
        mean, sd = self._mean_and_sd(self._context(context))
        draws = mean + self.v * sd * self.rng_.standard_normal((self.n_draws, self.n_arms))
        return _argmax_frequencies(draws)

    def decide(self, context: ArrayLike) -> Decision:
        """Choose an arm for one person's feature vector."""
        return self._draw(self.probabilities(context))


class LinUCB(_Ridge):
    """LinUCB (disjoint): the arm with the largest ``theta_hat . x + alpha sqrt(x^T A^-1 x)``.

    Its own probabilities are one-hot on the best arm (ties split evenly); the floor turns
    them into a known, bounded exploration.
    """

    def __init__(
        self,
        n_arms: int,
        dim: int,
        alpha: float = 1.0,
        ridge: float = 1.0,
        floor: float = 0.0,
        ceiling: float = 1.0,
        seed: int | None = 0,
    ) -> None:
        super().__init__(n_arms, dim, ridge, floor, ceiling, seed)
        self.alpha = alpha

    def scores(self, context: ArrayLike) -> Floats:
        """Upper confidence bound of each arm's expected reward."""
        mean, sd = self._mean_and_sd(self._context(context))
        return mean + self.alpha * sd

    def probabilities(self, context: ArrayLike) -> Floats:
        return _argmax_frequencies(self.scores(context)[None, :])

    def decide(self, context: ArrayLike) -> Decision:
        """Choose an arm for one person's feature vector."""
        return self._draw(self.probabilities(context))
