"""The bandits of running experiments: kept in memory, rebuilt from the logged and
attributed feedback when older than ``REFRESH_S`` — one path for every kind.

* ``thompson``: Beta posteriors from the clicks per shown decision of each arm.
* ``linear_thompson`` and ``lin_ucb``: a ridge regression per arm on the vectors logged
  with the decisions (those decided on the same feature names), fitted at once.

A policy is kept per experiment and per everything that shapes it (arm names, kind,
feature names, bounds, exploration, ridge), so a changed definition starts afresh.
Age is measured on the injected clock (a test moves a ``FixedClock`` past the minute).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from surmesure.clock import Clock
from surmesure.decisions import context
from surmesure.decisions.domain import CONTEXTUAL, Experiment
from surmesure.decisions.results import Attribution
from surmesure.experiments.bandits import BernoulliThompson, LinearThompson, LinUCB

__all__ = ["REFRESH_S", "Choice", "Policies", "Policy"]

REFRESH_S = 60.0
_DRAWS = 2000  # Monte-Carlo draws per propensity (the logged one is exact: the arm is drawn from it)
Policy = BernoulliThompson | LinearThompson | LinUCB
_LABELS = {
    "thompson": "Thompson sampling",
    "linear_thompson": "linear Thompson sampling",
    "lin_ucb": "LinUCB",
}


@dataclass(frozen=True)
class Choice:
    """The arm drawn, the probability it was drawn with, and every arm's probability."""

    arm: str
    propensity: float
    probabilities: dict[str, float]
    label: str


class Policies:
    def __init__(self, clock: Clock, feedback: Callable[[str], Attribution]) -> None:
        self.clock = clock
        self._feedback = feedback
        self._kept: dict[tuple[Hashable, ...], tuple[float, Policy]] = {}
        self._lock = threading.Lock()

    def choose(self, experiment_id: str, design: Experiment, x: Sequence[float] | None = None) -> Choice:
        """Draw an arm (for a contextual kind, for the vector ``x``)."""
        policy = self.policy(experiment_id, design)
        with self._lock:  # the generator and the cached probabilities are shared
            decision = policy.decide() if isinstance(policy, BernoulliThompson) else policy.decide(x or [])
        names = [a.name for a in design.arms]
        return Choice(
            names[decision.arm],
            decision.propensity,
            dict(zip(names, decision.probabilities, strict=True)),
            _LABELS[design.kind],
        )

    def policy(self, experiment_id: str, design: Experiment) -> Policy:
        """The experiment's policy, rebuilt from the feedback when ``REFRESH_S`` old."""
        key = _key(experiment_id, design)
        now = self.clock.now().timestamp()
        kept = self._kept.get(key)
        if kept is not None and 0.0 <= now - kept[0] < REFRESH_S:
            return kept[1]
        policy = _build(design, self._feedback(experiment_id))
        self.hold(experiment_id, design, policy, now)
        return policy

    def hold(self, experiment_id: str, design: Experiment, policy: Policy, at: float | None = None) -> None:
        """Keep ``policy`` as of ``at`` (now by default); older shapes of the experiment go."""
        key = _key(experiment_id, design)
        with self._lock:
            for other in [k for k in self._kept if k[0] == experiment_id and k != key]:
                del self._kept[other]
            self._kept[key] = (self.clock.now().timestamp() if at is None else at, policy)


def _key(experiment_id: str, design: Experiment) -> tuple[Hashable, ...]:
    features = tuple(context.names(design.context_features())) if design.kind in CONTEXTUAL else ()
    arms = tuple(a.name for a in design.arms)
    return (experiment_id, design.kind, arms, features, design.floor, design.ceiling,
            design.exploration, design.ridge)  # fmt: skip


def _build(design: Experiment, attribution: Attribution) -> Policy:
    names = [a.name for a in design.arms]
    floor, ceiling = design.floor, design.ceiling
    if design.kind == "thompson":
        bandit = BernoulliThompson(len(names), floor=floor, ceiling=ceiling, n_draws=_DRAWS, seed=None)
        counts = attribution.arm_counts()
        for i, arm in enumerate(names):
            shown, clicked = counts.get(arm, (0, 0))
            bandit.alpha_[i] += clicked
            bandit.beta_[i] += max(shown - clicked, 0)
        return bandit
    features = context.names(design.context_features())
    dim = len(features)
    policy: LinearThompson | LinUCB
    if design.kind == "linear_thompson":
        policy = LinearThompson(
            len(names), dim, v=design.exploration, ridge=design.ridge,
            floor=floor, ceiling=ceiling, n_draws=_DRAWS, seed=None,
        )  # fmt: skip
    else:
        policy = LinUCB(
            len(names), dim, alpha=design.exploration, ridge=design.ridge,
            floor=floor, ceiling=ceiling, seed=None,
        )  # fmt: skip
    arms, xs, rewards = attribution.contextual(features)
    index = {name: i for i, name in enumerate(names)}
    kept = [i for i, arm in enumerate(arms) if arm in index and len(xs[i]) == dim]
    if kept:
        policy.fit([index[arms[i]] for i in kept], [xs[i] for i in kept], [rewards[i] for i in kept])
    return policy
