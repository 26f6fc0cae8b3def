"""Off-policy evaluation: the value of a new policy estimated from logged decisions.

Inputs follow obp's ``bandit_feedback``: for each logged round ``i`` the context
``x_i``, the action ``a_i`` the logging policy took with probability ``pscore_i``, the
reward ``r_i``, the slot ``position_i``, and the evaluation policy's distribution
``action_dist[i, a, k] = pi_e(a | x_i, k)``. With the importance weight
``w_i = pi_e(a_i | x_i, k_i) / pscore_i`` and a reward model ``q(x, a, k)``::

    IPW   = mean(w_i r_i)                                   (Horvitz and Thompson 1952)
    SNIPW = sum(w_i r_i) / sum(w_i)                         (Swaminathan and Joachims 2015)
    DM    = mean(sum_a pi_e(a | x_i, k_i) q(x_i, a, k_i))   (Beygelzimer and Langford 2009)
    DR    = DM + mean(w_i (r_i - q(x_i, a_i, k_i)))         (Dudik, Langford and Li 2011)

IPW is unbiased when every action of ``pi_e`` has a positive logged propensity, with a
variance that grows with the weights; DM has low variance and the bias of its model; DR
is unbiased if either the propensities or the model are right. These are the formulas of
obp's ``InverseProbabilityWeighting``, ``SelfNormalizedInverseProbabilityWeighting``,
``DirectMethod`` and ``DoublyRobust`` (without clipping).

:func:`fit_reward_model` fits the model by cross-fitting (each fold predicted by a model
that did not see it): one scikit-learn classifier per action and position, shrunk to the
position's mean click rate where an action has too few clicks to fit, or one per position
on context and item features shared by all actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "LoggedFeedback",
    "direct_method",
    "doubly_robust",
    "estimate_all",
    "fit_reward_model",
    "ipw",
    "relative_error",
    "snipw",
]

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class LoggedFeedback:
    """Logged decisions, shaped like obp's bandit feedback.

    Attributes
    ----------
    context : array, shape (n, d)
    action : int array, shape (n,)
    reward : array, shape (n,)
    pscore : array, shape (n,)
        Propensity of the logged action under the logging policy.
    action_dist : array, shape (n, n_actions, len_list)
        The evaluation policy's probabilities.
    position : int array, shape (n,)
        The slot of each decision (zeros when there is one slot).
    """

    context: Floats
    action: NDArray[np.int64]
    reward: Floats
    pscore: Floats
    action_dist: Floats
    position: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = self.action.shape[0]
        if self.position.shape[0] == 0:
            object.__setattr__(self, "position", np.zeros(n, dtype=np.int64))
        if not (self.reward.shape[0] == self.pscore.shape[0] == self.context.shape[0] == n):
            raise ValueError("context, action, reward and pscore need one row per round")
        if self.action_dist.ndim != 3 or self.action_dist.shape[0] != n:
            raise ValueError("action_dist must have shape (n_rounds, n_actions, len_list)")
        if np.any(self.pscore <= 0):
            raise ValueError("propensities must be positive")

    @classmethod
    def of(
        cls,
        context: ArrayLike,
        action: ArrayLike,
        reward: ArrayLike,
        pscore: ArrayLike,
        action_dist: ArrayLike,
        position: ArrayLike | None = None,
    ) -> LoggedFeedback:
        """Build from array-likes (a 2-D ``action_dist`` is read as one slot)."""
        dist = np.asarray(action_dist, dtype=float)
        if dist.ndim == 2:
            dist = dist[:, :, None]
        act = np.asarray(action, dtype=np.int64)
        ctx = np.asarray(context, dtype=float)
        return cls(
            context=ctx.reshape(act.shape[0], -1),
            action=act,
            reward=np.asarray(reward, dtype=float),
            pscore=np.asarray(pscore, dtype=float),
            action_dist=dist,
            position=np.zeros(0, np.int64) if position is None else np.asarray(position, dtype=np.int64),
        )

    @property
    def n_actions(self) -> int:
        return int(self.action_dist.shape[1])

    @property
    def len_list(self) -> int:
        return int(self.action_dist.shape[2])

    def weights(self) -> Floats:
        """Importance weights ``pi_e(a_i | x_i, k_i) / pscore_i``."""
        rows = np.arange(self.action.shape[0])
        return np.asarray(self.action_dist[rows, self.action, self.position] / self.pscore, dtype=float)


def ipw(fb: LoggedFeedback) -> float:
    """Inverse probability weighting."""
    return float(np.mean(fb.weights() * fb.reward))


def snipw(fb: LoggedFeedback) -> float:
    """Self-normalized IPW (weights divided by their mean)."""
    w = fb.weights()
    total = w.sum()
    return float(np.sum(w * fb.reward) / total) if total > 0 else float("nan")


def _check_q(fb: LoggedFeedback, q_hat: ArrayLike) -> Floats:
    q = np.asarray(q_hat, dtype=float)
    if q.ndim == 2:
        q = q[:, :, None]
    if q.shape != fb.action_dist.shape:
        raise ValueError("q_hat must have the shape of action_dist")
    return q


def direct_method(fb: LoggedFeedback, q_hat: ArrayLike) -> float:
    """The direct method: the reward model averaged under the evaluation policy."""
    q = _check_q(fb, q_hat)
    rows = np.arange(fb.action.shape[0])
    pi = fb.action_dist[rows, :, fb.position]
    return float(np.mean(np.sum(pi * q[rows, :, fb.position], axis=1)))


def doubly_robust(fb: LoggedFeedback, q_hat: ArrayLike) -> float:
    """Doubly robust: the direct method plus the weighted residuals of the logged actions."""
    q = _check_q(fb, q_hat)
    rows = np.arange(fb.action.shape[0])
    residual = fb.reward - q[rows, fb.action, fb.position]
    return direct_method(fb, q) + float(np.mean(fb.weights() * residual))


def estimate_all(fb: LoggedFeedback, q_hat: ArrayLike) -> dict[str, float]:
    """The four estimates, keyed ``ipw``, ``snipw``, ``dm``, ``dr``."""
    return {
        "ipw": ipw(fb),
        "snipw": snipw(fb),
        "dm": direct_method(fb, q_hat),
        "dr": doubly_robust(fb, q_hat),
    }


def relative_error(estimate: float, truth: float) -> float:
    """``|estimate - truth| / truth``, obp's "relative-ee"."""
    return abs(estimate - truth) / abs(truth)


def _fit(
    x_train: Floats, y_train: Floats, fallback: float, c: float, min_positives: int, seed: int
) -> Callable[[Floats], Floats]:
    """A fitted click model as a function of features."""
    positives = int(y_train.sum())
    if positives < min_positives or positives == y_train.size:
        # too few clicks to fit: the observed rate shrunk toward the slot's rate
        rate = (positives + 10.0 * fallback) / (y_train.size + 10.0)
        return lambda x: np.full(x.shape[0], rate)
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    model.fit(x_train, y_train)
    return lambda x: np.asarray(model.predict_proba(x)[:, 1], dtype=float)


def fit_reward_model(
    fb: LoggedFeedback,
    n_folds: int = 3,
    c: float = 1.0,
    min_positives: int = 2,
    seed: int = 0,
    action_context: ArrayLike | None = None,
) -> Floats:
    """Cross-fitted click model ``q(x_i, a, k)`` for every round, action and slot.

    Each fold is predicted by models fitted on the other folds (folds drawn with
    ``numpy.random.default_rng(seed)``; scikit-learn's ``LogisticRegression`` with
    ``random_state=seed``).

    * Without ``action_context``: one logistic regression per action and slot on the rounds
      that logged that action in that slot; an action with fewer than ``min_positives``
      clicks in the training folds gets its click rate shrunk toward the slot's instead.
    * With ``action_context`` (shape ``(n_actions, d_a)``, item features): one logistic
      regression per slot on ``[x_i, action_context[a_i]]``, shared by every action
      (obp's ``RegressionModel``), which pools the few clicks of sparse logs.

    Returns
    -------
    array, shape (n_rounds, n_actions, len_list)
    """
    n = fb.action.shape[0]
    q = np.zeros((n, fb.n_actions, fb.len_list))
    items = None if action_context is None else np.asarray(action_context, dtype=float)
    if items is not None and items.shape[0] != fb.n_actions:
        raise ValueError("action_context needs one row per action")
    if n_folds > 1:
        order = np.random.default_rng(seed).permutation(n)
        tests = np.array_split(order, n_folds)
        folds = [(np.setdiff1d(order, t), np.sort(t)) for t in tests]
    else:
        folds = [(np.arange(n), np.arange(n))]
    for train, test in folds:
        for k in range(fb.len_list):
            in_slot = train[fb.position[train] == k]
            slot_rate = float(fb.reward[in_slot].mean()) if in_slot.size else 0.0
            if items is not None:
                x_train = np.hstack([fb.context[in_slot], items[fb.action[in_slot]]])
                predict = _fit(x_train, fb.reward[in_slot], slot_rate, c, min_positives, seed)
                for a in range(fb.n_actions):
                    x_test = np.hstack(
                        [fb.context[test], np.broadcast_to(items[a], (test.size, items.shape[1]))]
                    )
                    q[test, a, k] = predict(x_test)
                continue
            for a in range(fb.n_actions):
                rows = in_slot[fb.action[in_slot] == a]
                predict = _fit(fb.context[rows], fb.reward[rows], slot_rate, c, min_positives, seed)
                q[test, a, k] = predict(fb.context[test])
    return q
