"""Per-arm statistics with confidence intervals, and an always-valid sequential test.

Fixed-horizon intervals (valid when the sample size is fixed in advance):

* proportions (CTR, conversion): Wilson score interval, or the normal (Wald) interval;
* means with heavy tails (revenue per visitor): Welch's interval for a difference of
  means, and a seeded percentile bootstrap for one mean.

Looking at a fixed-horizon test after every visitor and stopping at the first
"significant" result inflates the false-positive rate far above alpha. The
**mixture sequential probability ratio test** (mSPRT; Robbins 1970, Johari, Pekelis and
Walsh 2017 — the method of Optimizely's Stats Engine) and its dual, the normal-mixture
**confidence sequence** (Howard, Ramdas, McAuliffe and Sekhon 2021), are valid at every
sample size at once: ``P(exists n: theta not in CS_n) <= alpha``. Under a normal
approximation of the difference of means ``d_n`` with variance ``V_n`` and a normal
mixing distribution ``N(0, tau^2)`` on the effect::

    Lambda_n = sqrt(V_n / (V_n + tau^2)) * exp(tau^2 d_n^2 / (2 V_n (V_n + tau^2)))
    reject H0 (no difference) once Lambda_n >= 1 / alpha
    CS_n = d_n +/- sqrt(V_n (V_n + tau^2) / tau^2 * (2 log(1/alpha) + log((V_n + tau^2) / V_n)))

The always-valid p-value is ``min(1, 1 / max_{m <= n} Lambda_m)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _st

__all__ = [
    "ArmSummary",
    "Interval",
    "SequentialResult",
    "always_valid_interval",
    "bootstrap_mean_interval",
    "msprt_statistic",
    "normal_interval",
    "sequential_test",
    "summarize_arm",
    "welch_interval",
    "wilson_interval",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its ``1 - alpha`` confidence interval."""

    estimate: float
    low: float
    high: float


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    return float(_st.norm.ppf(1.0 - alpha / 2.0))


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> Interval:
    """Wilson score interval for a proportion ``successes / n``.

    Parameters
    ----------
    successes, n : int
        Counts, ``0 <= successes <= n``; ``n == 0`` gives ``(nan, 0, 1)``.
    alpha : float
        One minus the coverage.
    """
    if not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    z = _z(alpha)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def normal_interval(successes: int, n: int, alpha: float = 0.05) -> Interval:
    """Normal (Wald) interval ``p +/- z sqrt(p (1 - p) / n)``; poor near 0 or 1."""
    if not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    p = successes / n
    half = _z(alpha) * math.sqrt(p * (1 - p) / n)
    return Interval(p, p - half, p + half)


def welch_interval(a: ArrayLike, b: ArrayLike, alpha: float = 0.05) -> Interval:
    """Welch's interval for ``mean(b) - mean(a)`` (unequal variances, Satterthwaite df)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        raise ValueError("Welch's interval needs at least two values per group")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff = float(y.mean() - x.mean())
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Interval(diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(_st.t.ppf(1.0 - alpha / 2.0, df)) * se
    return Interval(diff, diff - half, diff + half)


def bootstrap_mean_interval(
    values: ArrayLike, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval for a mean (e.g. revenue per visitor), seeded."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(float(x.mean()), float(low), float(high))


@dataclass(frozen=True)
class ArmSummary:
    """What a marketer reads per arm: visitors, CTR, conversion, revenue per visitor."""

    arm: str
    visitors: int
    impressions: int
    ctr: Interval
    conversion: Interval
    revenue_per_visitor: Interval


def summarize_arm(
    arm: str,
    impressions: int,
    clicks: int,
    converted: NDArray[np.bool_] | NDArray[np.int_],
    revenue: ArrayLike,
    alpha: float = 0.05,
    seed: int = 0,
) -> ArmSummary:
    """Summarize one arm from per-visitor outcomes.

    Parameters
    ----------
    impressions, clicks : int
        Totals for the arm (CTR = clicks / impressions, Wilson interval).
    converted : array of bool, shape (visitors,)
        Whether each visitor converted (Wilson interval).
    revenue : array of float, shape (visitors,)
        Revenue of each visitor, zero for most (bootstrap interval of the mean).
    """
    conv = np.asarray(converted, dtype=bool)
    rev = np.asarray(revenue, dtype=float)
    if conv.shape != rev.shape:
        raise ValueError("converted and revenue need one value per visitor")
    return ArmSummary(
        arm=arm,
        visitors=int(conv.size),
        impressions=impressions,
        ctr=wilson_interval(clicks, impressions, alpha),
        conversion=wilson_interval(int(conv.sum()), int(conv.size), alpha),
        revenue_per_visitor=bootstrap_mean_interval(rev, alpha, seed=seed),
    )


def msprt_statistic(diff: ArrayLike, variance: ArrayLike, tau2: float) -> NDArray[np.float64]:
    """The normal-mixture likelihood ratio ``Lambda`` for ``H0: theta = 0``.

    ``diff`` is the observed difference of means, ``variance`` its variance (for two arms
    of ``n`` visitors each: ``(s_a^2 + s_b^2) / n``), ``tau2`` the mixing variance (the
    squared size of effects one expects; about the minimum effect of interest).
    """
    d = np.asarray(diff, dtype=float)
    v = np.asarray(variance, dtype=float)
    if tau2 <= 0:
        raise ValueError("tau2 must be positive")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lam = 0.5 * np.log(v / (v + tau2)) + tau2 * d * d / (2.0 * v * (v + tau2))
    return np.asarray(np.exp(np.where(v > 0, log_lam, 0.0)), dtype=float)


def always_valid_interval(diff: float, variance: float, tau2: float, alpha: float = 0.05) -> Interval:
    """The normal-mixture confidence sequence at one look: valid whenever it is read."""
    if variance <= 0:
        return Interval(diff, -math.inf, math.inf)
    log_term = 2 * math.log(1 / alpha) + math.log((variance + tau2) / variance)
    radius = math.sqrt(variance * (variance + tau2) / tau2 * log_term)
    return Interval(diff, diff - radius, diff + radius)


@dataclass(frozen=True)
class SequentialResult:
    """An always-valid comparison of arm B against arm A after every look so far."""

    interval: Interval
    p_value: float  # always-valid: min(1, 1 / max Lambda)
    significant: bool


def sequential_test(
    a: ArrayLike, b: ArrayLike, tau2: float, alpha: float = 0.05, min_n: int = 30
) -> SequentialResult:
    """Run the mSPRT over the visitors of A and B in arrival order (paired by index).

    Every prefix of ``min(len(a), len(b))`` visitors per arm is a look; the p-value is the
    running minimum of ``1 / Lambda``, so it is safe to read after any look. Variances are
    the running sample variances (plug-in), from ``min_n`` visitors per arm on.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n = min(x.size, y.size)
    if n < min_n:
        return SequentialResult(Interval(math.nan, -math.inf, math.inf), 1.0, False)
    x, y = x[:n], y[:n]
    k = np.arange(1, n + 1, dtype=float)
    mx, my = np.cumsum(x) / k, np.cumsum(y) / k
    vx = np.maximum(np.cumsum(x * x) / k - mx * mx, 0.0) * k / np.maximum(k - 1, 1)
    vy = np.maximum(np.cumsum(y * y) / k - my * my, 0.0) * k / np.maximum(k - 1, 1)
    diff = (my - mx)[min_n - 1 :]
    var = ((vx + vy) / k)[min_n - 1 :]
    lam = msprt_statistic(diff, var, tau2)
    p_value = float(min(1.0, 1.0 / max(float(lam.max()), 1e-300)))
    interval = always_valid_interval(float(diff[-1]), float(var[-1]), tau2, alpha)
    return SequentialResult(interval, p_value, p_value <= alpha)
