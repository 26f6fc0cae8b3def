"""Intervals against known values, and the always-valid test under repeated peeking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from surmesure.experiments.stats import (
    always_valid_interval,
    bootstrap_mean_interval,
    msprt_statistic,
    normal_interval,
    sequential_test,
    summarize_arm,
    welch_interval,
    wilson_interval,
)


def test_wilson_known_values() -> None:
    half = wilson_interval(5, 10)
    assert (half.low, half.high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    zero = wilson_interval(0, 10)
    assert (zero.estimate, zero.low) == (0.0, 0.0)
    assert zero.high == pytest.approx(0.2775, abs=1e-4)
    wald = normal_interval(5, 10)
    assert (wald.low, wald.high) == pytest.approx(
        (0.5 - 1.959964 * 0.158114, 0.5 + 1.959964 * 0.158114), abs=1e-5
    )


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.exponential(10.0, 300), rng.exponential(12.0, 200)
    ours = welch_interval(a, b)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_bootstrap_and_arm_summary() -> None:
    revenue = np.r_[np.zeros(90), np.full(10, 50.0)]
    boot = bootstrap_mean_interval(revenue, seed=1)
    assert boot.estimate == pytest.approx(5.0)
    assert boot.low < 5.0 < boot.high
    assert bootstrap_mean_interval(revenue, seed=1) == boot
    arm = summarize_arm("b", impressions=1000, clicks=50, converted=revenue > 0, revenue=revenue)
    assert arm.ctr.estimate == pytest.approx(0.05)
    assert arm.conversion.estimate == pytest.approx(0.1)
    assert arm.visitors == 100


def test_the_mixture_ratio_and_its_interval_are_dual() -> None:
    # the confidence sequence excludes 0 exactly when Lambda >= 1 / alpha
    for diff in (0.01, 0.02, 0.03, 0.05):
        lam = float(msprt_statistic(diff, 1e-4, 4e-4))
        cs = always_valid_interval(diff, 1e-4, 4e-4, alpha=0.05)
        assert (cs.low > 0) == (lam >= 20.0)


def _aa_streams(n_sims: int, n: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n_sims, n)) < rate, rng.random((n_sims, n)) < rate


def test_peeking_keeps_the_always_valid_test_at_alpha_but_not_the_t_test() -> None:
    n_sims, n, rate, alpha = 300, 2_000, 0.1, 0.05
    a, b = _aa_streams(n_sims, n, rate, seed=12345)
    looks = np.arange(50, n + 1, 50)
    # naive: a two-sample z test at every look, stop at the first p < alpha
    k = looks[None, :].astype(float)
    ma, mb = np.cumsum(a, axis=1)[:, looks - 1] / k, np.cumsum(b, axis=1)[:, looks - 1] / k
    se = np.sqrt((ma * (1 - ma) + mb * (1 - mb)) / k)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(mb - ma) / se
    naive = float(np.mean(np.any(z > stats.norm.ppf(1 - alpha / 2), axis=1)))
    # always valid: the mSPRT read after *every* visitor
    tau2 = 0.02**2
    always = float(np.mean([sequential_test(a[i], b[i], tau2, alpha).significant for i in range(n_sims)]))
    assert naive > 2 * alpha
    assert always <= alpha


def test_the_always_valid_test_finds_a_real_difference() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(5_000) < 0.10, rng.random(5_000) < 0.14
    result = sequential_test(a, b, tau2=0.02**2)
    assert result.significant
    assert result.interval.low > 0
    assert sequential_test(a[:10], b[:10], tau2=0.02**2).p_value == 1.0
