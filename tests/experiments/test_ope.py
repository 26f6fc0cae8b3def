"""Off-policy estimators against values computed by hand on a six-row log."""

from __future__ import annotations

import numpy as np
import pytest

from surmesure.experiments.ope import (
    LoggedFeedback,
    direct_method,
    doubly_robust,
    estimate_all,
    fit_reward_model,
    ipw,
    relative_error,
    snipw,
)

# action, reward, pscore, pi_e(0), pi_e(1), q(0), q(1)
ROWS = [
    (0, 1.0, 0.50, 0.2, 0.8, 0.6, 0.3),
    (1, 0.0, 0.50, 0.2, 0.8, 0.6, 0.3),
    (1, 1.0, 0.25, 0.5, 0.5, 0.4, 0.5),
    (0, 0.0, 0.75, 0.5, 0.5, 0.4, 0.5),
    (1, 1.0, 0.50, 0.0, 1.0, 0.2, 0.9),
    (0, 1.0, 0.50, 0.0, 1.0, 0.2, 0.9),
]


def _tiny() -> tuple[LoggedFeedback, np.ndarray]:
    t = np.array(ROWS)
    fb = LoggedFeedback.of(
        context=np.zeros((6, 1)), action=t[:, 0], reward=t[:, 1], pscore=t[:, 2], action_dist=t[:, 3:5]
    )
    return fb, t[:, 5:7]


def test_the_weights_are_the_ratio_of_propensities() -> None:
    fb, _ = _tiny()
    np.testing.assert_allclose(fb.weights(), [0.4, 1.6, 2.0, 2 / 3, 2.0, 0.0])


def test_ipw_and_snipw_by_hand() -> None:
    fb, _ = _tiny()
    # w * r = 0.4 + 2 + 2 = 4.4 over 6 rows; sum of weights 20/3
    assert ipw(fb) == pytest.approx(4.4 / 6)
    assert snipw(fb) == pytest.approx(0.66)


def test_dm_and_dr_by_hand() -> None:
    fb, q = _tiny()
    # DM rows: 0.36, 0.36, 0.45, 0.45, 0.9, 0.9
    assert direct_method(fb, q) == pytest.approx(3.42 / 6)
    # weighted residuals: 0.16 - 0.48 + 1.0 - 0.2667 + 0.2 + 0
    assert doubly_robust(fb, q) == pytest.approx(0.57 + (0.16 - 0.48 + 1.0 - 0.4 * 2 / 3 + 0.2) / 6)
    assert set(estimate_all(fb, q)) == {"ipw", "snipw", "dm", "dr"}


def test_a_perfect_model_makes_dr_equal_dm_and_a_logging_policy_its_own_mean() -> None:
    fb, _ = _tiny()
    q = np.zeros((6, 2))
    q[np.arange(6), fb.action] = fb.reward
    assert doubly_robust(fb, q) == pytest.approx(direct_method(fb, q))
    same = LoggedFeedback.of(np.zeros((4, 1)), [0, 1, 0, 1], [1, 0, 0, 1], [0.5] * 4, np.full((4, 2), 0.5))
    assert ipw(same) == pytest.approx(0.5)
    assert snipw(same) == pytest.approx(0.5)
    assert relative_error(0.55, 0.5) == pytest.approx(0.1)


def test_the_reward_model_learns_a_separable_click_rule() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    x = rng.integers(0, 2, size=(n, 1)).astype(float)
    a = rng.integers(0, 2, size=n)
    r = (a == x[:, 0]).astype(float)  # click when the action matches the feature
    fb = LoggedFeedback.of(x, a, r, np.full(n, 0.5), np.full((n, 2), 0.5))
    q = fit_reward_model(fb, n_folds=2, c=100.0, seed=0)
    assert q.shape == (n, 2, 1)
    ones = x[:, 0] == 1
    assert q[ones, 1, 0].min() > 0.9
    assert q[ones, 0, 0].max() < 0.1


def test_bad_logs_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoggedFeedback.of(np.zeros((1, 1)), [0], [1.0], [0.0], [[1.0]])
    fb, _ = _tiny()
    with pytest.raises(ValueError, match="shape"):
        direct_method(fb, np.zeros((6, 3)))


def test_the_pooled_reward_model_shares_item_features_across_actions() -> None:
    rng = np.random.default_rng(1)
    n = 3_000
    a = rng.integers(0, 3, size=n)
    items = np.array([[0.0], [1.0], [1.0]])  # actions 1 and 2 are the clicked kind
    r = (rng.random(n) < np.where(items[a, 0] == 1.0, 0.6, 0.05)).astype(float)
    fb = LoggedFeedback.of(np.ones((n, 1)), a, r, np.full(n, 1 / 3), np.full((n, 3), 1 / 3))
    q = fit_reward_model(fb, n_folds=3, seed=0, action_context=items)
    assert q[:, 1, 0].mean() == pytest.approx(0.6, abs=0.05)
    assert q[:, 0, 0].mean() == pytest.approx(0.05, abs=0.03)
    with pytest.raises(ValueError, match="one row per action"):
        fit_reward_model(fb, action_context=items[:2])
