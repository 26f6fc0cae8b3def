"""Disparity between groups: rates with Wilson intervals, differences with Newcombe's
hybrid score interval, exposure ratios and the four-fifths rule. Pure Python."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from surmesure.experiments.stats import Interval, wilson_interval

__all__ = ["UNKNOWN", "Disparity", "GroupRate", "disparity", "newcombe_interval"]

#: the group of people whose attribute is not known: shown, never compared
UNKNOWN = "(unknown)"


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, alpha: float = 0.05) -> Interval:
    """Newcombe's hybrid score interval (method 10, 1998) for ``k1/n1 - k2/n2``, from the
    two Wilson intervals; good coverage at small counts and at 0 or 1."""
    if n1 == 0 or n2 == 0:
        return Interval(math.nan, -1.0, 1.0)
    a, b = wilson_interval(k1, n1, alpha), wilson_interval(k2, n2, alpha)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class GroupRate:
    """One group: ``shown`` of its ``audience`` (a rate with its interval)."""

    group: str
    audience: int
    shown: int
    rate: Interval
    #: the group's share of what was shown ÷ its share of the audience (1: as expected)
    exposure_ratio: float | None
    #: the rate ÷ the reference (highest) rate: the four-fifths rule wants >= 0.8
    ratio_to_reference: float | None
    #: rate minus the reference rate, with Newcombe's interval
    difference: Interval | None
    compared: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "audience": self.audience,
            "shown": self.shown,
            "rate": _interval(self.rate),
            "exposure_ratio": _round(self.exposure_ratio),
            "ratio_to_reference": _round(self.ratio_to_reference),
            "difference": _interval(self.difference) if self.difference is not None else None,
            "compared": self.compared,
        }


@dataclass(frozen=True)
class Disparity:
    """The groups of one thing shown (a variant, an arm, a segment) and the verdict."""

    groups: list[GroupRate]
    reference: str | None
    lowest_ratio: float | None
    alert: bool
    skewed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": [g.as_dict() for g in self.groups],
            "reference": self.reference,
            "lowest_ratio": _round(self.lowest_ratio),
            "alert": self.alert,
            "skewed": self.skewed,
        }


def disparity(
    counts: Mapping[str, tuple[int, int]],
    *,
    min_ratio: float = 0.8,
    min_group: int = 10,
    alpha: float = 0.05,
) -> Disparity:
    """``counts``: group → (shown, audience). Groups of at least ``min_group`` people,
    the unknown group aside, are compared with the one of highest rate (the reference).
    A group is *skewed against* when its rate is below ``min_ratio`` times the
    reference's and the difference's interval lies below 0 (not chance); any skewed
    group raises the alert."""
    known = {g: c for g, c in counts.items() if g != UNKNOWN}
    total_shown = sum(s for s, _ in known.values())
    total_audience = sum(a for _, a in known.values())
    compared = {g for g, (_, a) in known.items() if a >= min_group}
    rates = {g: counts[g][0] / counts[g][1] for g in compared if counts[g][1]}
    reference = max(sorted(rates), key=lambda g: rates[g]) if rates else None
    groups: list[GroupRate] = []
    skewed: list[str] = []
    ratios: list[float] = []
    for g in sorted(counts, key=lambda g: (g == UNKNOWN, g)):
        shown, audience = counts[g]
        exposure_ratio = None
        if g != UNKNOWN and total_shown and total_audience and audience:
            exposure_ratio = (shown / total_shown) / (audience / total_audience)
        ratio = difference = None
        if g in compared and reference is not None:
            top_shown, top_audience = counts[reference]
            top_rate = top_shown / top_audience
            ratio = (shown / audience) / top_rate if top_rate > 0 else None
            difference = newcombe_interval(shown, audience, top_shown, top_audience, alpha)
            if ratio is not None and g != reference:
                ratios.append(ratio)
                if ratio < min_ratio and difference.high < 0:
                    skewed.append(g)
        groups.append(
            GroupRate(
                g,
                audience,
                shown,
                wilson_interval(shown, audience, alpha),
                exposure_ratio,
                ratio,
                difference,
                g in compared,
            )
        )
    lowest = min(ratios) if ratios else None
    return Disparity(groups, reference, lowest, bool(skewed), skewed)


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


def _interval(i: Interval) -> dict[str, float | None]:
    return {"estimate": _round(i.estimate), "low": _round(i.low), "high": _round(i.high)}
