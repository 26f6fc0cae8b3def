"""Bandits: posterior updates, propensities, known answers, bounded exploration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surmesure.experiments.bandits import (
    BernoulliThompson,
    Decision,
    LinearThompson,
    LinUCB,
    bound_probabilities,
)


def test_thompson_posteriors_add_the_batch() -> None:
    ts = BernoulliThompson(3, seed=1).update([0, 0, 2, 2, 2], [1, 0, 1, 1, 0])
    np.testing.assert_allclose(ts.alpha_, [2, 1, 3])
    np.testing.assert_allclose(ts.beta_, [2, 1, 2])
    with pytest.raises(ValueError, match="reward"):
        ts.update([3], [1])


def test_thompson_propensities_sum_to_one_and_favour_the_better_arm() -> None:
    ts = BernoulliThompson(4, n_draws=5_000, seed=2)
    ts.update(
        [0] * 100 + [1] * 100 + [2] * 100 + [3] * 100, [1] * 10 + [0] * 90 + [1] * 30 + [0] * 70 + [0] * 200
    )
    p = ts.probabilities()
    assert p.sum() == pytest.approx(1.0)
    assert int(np.argmax(p)) == 1
    decision = ts.decide()
    assert decision.propensity == pytest.approx(decision.probabilities[decision.arm])
    assert sum(decision.probabilities) == pytest.approx(1.0)


def test_two_arms_are_exact_and_agree_with_monte_carlo() -> None:
    exact = BernoulliThompson(2, seed=3).update([0] * 20 + [1] * 20, [1] * 5 + [0] * 15 + [1] * 8 + [0] * 12)
    p = exact.probabilities()
    assert p.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    draws = rng.beta(exact.alpha_, exact.beta_, size=(200_000, 2))
    assert p[1] == pytest.approx(float(np.mean(draws[:, 1] > draws[:, 0])), abs=0.005)


def test_the_same_seed_gives_the_same_decisions() -> None:
    def run() -> list[int]:
        ts = BernoulliThompson(3, seed=7, n_draws=500)
        return [ts.decide().arm for _ in range(20)]

    assert run() == run()


def _separable(policy: LinUCB | LinearThompson) -> None:
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    for _ in range(50):
        policy.update([0, 1, 0, 1], [e1, e1, e2, e2], [1.0, 0.0, 0.0, 1.0])


def test_linucb_known_answer_on_separable_contexts() -> None:
    ucb = LinUCB(2, 2, alpha=0.5, ridge=1.0)
    _separable(ucb)
    np.testing.assert_allclose(ucb.theta(), [[50 / 51, 0.0], [0.0, 50 / 51]])
    assert ucb.decide([1.0, 0.0]).arm == 0
    d = ucb.decide([0.0, 1.0])
    assert (d.arm, d.propensity) == (1, 1.0)
    bounded = LinUCB(2, 2, alpha=0.5, floor=0.05, seed=0)
    _separable(bounded)
    assert bounded.probabilities([1.0, 0.0]).tolist() == [1.0, 0.0]
    assert bounded.decide([1.0, 0.0]).probabilities == pytest.approx((0.95, 0.05))


def test_linear_thompson_known_answer_and_incremental_inverse() -> None:
    lts = LinearThompson(2, 2, v=0.1, n_draws=2_000, seed=0)
    _separable(lts)
    assert lts.probabilities([1.0, 0.0])[0] > 0.99
    assert lts.probabilities([0.0, 1.0])[1] > 0.99
    # Sherman-Morrison kept A^-1 equal to the direct inverse of I + sum x x^T
    np.testing.assert_allclose(lts.a_inv_[0], np.linalg.inv(np.eye(2) + 50 * np.eye(2)), rtol=1e-10)


def test_a_context_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="features"):
        LinUCB(2, 3).decide([1.0, 2.0])


@settings(max_examples=200, deadline=None)
@given(
    p=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8),
    f=st.floats(0.0, 1.0),
    c=st.floats(0.0, 1.0),
)
def test_bounded_probabilities_respect_the_floor_and_the_ceiling(p: list[float], f: float, c: float) -> None:
    k = len(p)
    floor = f / k
    ceiling = 1.0 / k + c * (1.0 - 1.0 / k)
    q = bound_probabilities(p, floor, ceiling)
    assert q.sum() == pytest.approx(1.0, abs=1e-9)
    assert q.min() >= floor - 1e-9
    assert q.max() <= ceiling + 1e-9


@settings(max_examples=30, deadline=None)
@given(floor=st.floats(0.0, 0.2), ceiling=st.floats(0.5, 1.0), seed=st.integers(0, 1000))
def test_every_thompson_decision_stays_within_bounds(floor: float, ceiling: float, seed: int) -> None:
    ts = BernoulliThompson(5, floor=floor, ceiling=ceiling, n_draws=200, seed=seed)
    ts.update([0] * 50, [1] * 50)  # arm 0 clearly best: its probability would be ~1
    d = ts.decide()
    assert min(d.probabilities) >= floor - 1e-9
    assert max(d.probabilities) <= ceiling + 1e-9
    assert d.propensity == d.probabilities[d.arm]


def test_impossible_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="floor"):
        BernoulliThompson(4, floor=0.3)
    with pytest.raises(ValueError, match="ceiling"):
        BernoulliThompson(4, ceiling=0.2)


def test_thompson_probabilities_hold_between_two_updates() -> None:
    ts = BernoulliThompson(3, n_draws=1_000, seed=5)
    first = ts.probabilities()
    assert ts.decide().probabilities == tuple(first)
    np.testing.assert_array_equal(ts.probabilities(), first)
    ts.update([2] * 30, [1] * 30)
    assert int(np.argmax(ts.probabilities())) == 2


POLICIES = {
    "bernoulli-ts": lambda floor: BernoulliThompson(3, floor=floor, n_draws=500, seed=11),
    "linear-ts": lambda floor: LinearThompson(3, 2, floor=floor, n_draws=500, seed=11),
    "linucb": lambda floor: LinUCB(3, 2, floor=floor, seed=11),
}


def _decide(policy: BernoulliThompson | LinearThompson | LinUCB, x: np.ndarray) -> Decision:
    return policy.decide() if isinstance(policy, BernoulliThompson) else policy.decide(x)


def _feed(
    policy: BernoulliThompson | LinearThompson | LinUCB, arm: int, x: np.ndarray, reward: float
) -> None:
    if isinstance(policy, BernoulliThompson):
        policy.update([arm], [reward])
    else:
        policy.update([arm], [x], [reward])


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_bandit_logs_a_propensity_within_bounds_and_replays_with_its_seed(name: str) -> None:
    """The contract every bandit passes."""
    rng = np.random.default_rng(0)
    contexts = rng.random((200, 2))

    def run() -> list[Decision]:
        policy = POLICIES[name](0.1)
        decisions = []
        for x in contexts:
            d = _decide(policy, x)
            decisions.append(d)
            _feed(policy, d.arm, x, float(d.arm == 0))
        return decisions

    decisions = run()
    assert decisions == run()
    for d in decisions:
        assert sum(d.probabilities) == pytest.approx(1.0)
        assert d.propensity == d.probabilities[d.arm] >= 0.1 - 1e-9
    assert sum(d.arm == 0 for d in decisions[-50:]) > 30  # it learned that arm 0 pays


def test_a_saved_state_restores_the_same_model() -> None:
    import json

    ts = BernoulliThompson(3, seed=1).update([0, 1, 1], [1, 0, 1])
    again = BernoulliThompson(3, seed=1).load_state(json.loads(json.dumps(ts.state())))
    np.testing.assert_array_equal(again.probabilities(), ts.probabilities())
    ucb = LinUCB(2, 2)
    _separable(ucb)
    restored = LinUCB(2, 2).load_state(json.loads(json.dumps(ucb.state())))
    np.testing.assert_allclose(restored.scores([1.0, 0.0]), ucb.scores([1.0, 0.0]))
    with pytest.raises(ValueError, match="arms"):
        BernoulliThompson(2).load_state(ts.state())


@pytest.mark.parametrize("cls", [LinUCB, LinearThompson])
def test_fitting_a_whole_log_equals_updating_one_by_one(cls: type[LinUCB] | type[LinearThompson]) -> None:
    rng = np.random.default_rng(11)
    arms = rng.integers(0, 3, size=200)
    contexts = rng.normal(size=(200, 4))
    rewards = rng.random(200)
    incremental = cls(3, 4, ridge=2.0).update(arms, contexts, rewards)
    at_once = cls(3, 4, ridge=2.0).update([0], [np.ones(4)], [1.0]).fit(arms, contexts, rewards)
    np.testing.assert_allclose(at_once.a_inv_, incremental.a_inv_, atol=1e-10)
    np.testing.assert_allclose(at_once.b_, incremental.b_, atol=1e-10)
    np.testing.assert_allclose(at_once.theta(), incremental.theta(), atol=1e-10)
