"""Who was shown what, by protected group: from observations (one per decision, or one
per person of an audience) to disparities and sentences a marketer reads. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from surmesure.audit.stats import UNKNOWN, Disparity, disparity

__all__ = ["Observation", "audit_attribute", "group_of"]


@dataclass(frozen=True)
class Observation:
    """A person of the audience, and what one decision showed them (``what`` None:
    nothing, e.g. a capped decision or a non-member); ``clicked`` and ``converted``
    (did that decision lead to a click, a conversion) None when unknown."""

    visitor: str
    group: str
    what: str | None
    clicked: bool | None = None
    converted: bool | None = None


def group_of(traits: Mapping[str, Any] | None, attribute: str) -> str:
    """The value of ``traits.x.y`` in a profile's traits, as a group name."""
    value: Any = traits or {}
    parts = attribute.split(".")
    for part in parts[1:] if parts[0] == "traits" else parts:
        if not isinstance(value, Mapping) or part not in value:
            return UNKNOWN
        value = value[part]
    if value is None or value == "" or isinstance(value, Mapping | list):
        return UNKNOWN
    return str(value).strip().lower() if isinstance(value, str) else str(value)


def audit_attribute(
    observations: Iterable[Observation],
    attribute: str,
    *,
    subject: str,
    min_ratio: float,
    min_group: int,
    alpha: float,
) -> dict[str, Any]:
    """Per thing shown: exposure by group (people shown ÷ people of the audience), and
    click and conversion rates by group (decisions clicked or converted ÷ decisions
    shown) when outcomes are known: the business figures next to the fairness ones."""
    audience: dict[str, set[str]] = {}
    shown: dict[str, dict[str, set[str]]] = {}
    decisions: dict[str, dict[str, list[int]]] = {}  # what -> group -> [clicked, converted, shown]
    for o in observations:
        audience.setdefault(o.group, set()).add(o.visitor)
        if o.what is None:
            continue
        shown.setdefault(o.what, {}).setdefault(o.group, set()).add(o.visitor)
        if o.clicked is not None:
            c = decisions.setdefault(o.what, {}).setdefault(o.group, [0, 0, 0])
            c[0] += int(o.clicked)
            c[1] += int(bool(o.converted))
            c[2] += 1
    sizes = {g: len(v) for g, v in sorted(audience.items())}
    items: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for what in sorted(shown):
        exposure = disparity(
            {g: (len(shown[what].get(g, ())), n) for g, n in sizes.items()},
            min_ratio=min_ratio,
            min_group=min_group,
            alpha=alpha,
        )
        clicks = conversions = None
        if what in decisions:
            per = decisions[what]
            clicks, conversions = (
                disparity(
                    {g: (per[g][i], per[g][2]) for g in sorted(per)},
                    min_ratio=min_ratio,
                    min_group=min_group,
                    alpha=alpha,
                )
                for i in (0, 1)
            )
        entry = {
            "what": what,
            "exposure": exposure.as_dict(),
            "clicks": clicks.as_dict() if clicks is not None else None,
            "conversions": conversions.as_dict() if conversions is not None else None,
            "summary": _say(subject, what, attribute, exposure, min_ratio),
        }
        items.append(entry)
        if exposure.alert:
            alerts.append(
                {
                    "attribute": attribute,
                    "what": what,
                    "skewed_against": exposure.skewed,
                    "reference": exposure.reference,
                    "lowest_ratio": exposure.as_dict()["lowest_ratio"],
                    "message": entry["summary"],
                }
            )
    return {"attribute": attribute, "audience": sizes, "shown": items, "alerts": alerts}


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _say(subject: str, what: str, attribute: str, d: Disparity, min_ratio: float) -> str:
    name = attribute.split(".")[-1]
    by = {g.group: g for g in d.groups}
    if d.reference is None:
        return (
            f"{subject}, {what}: too few people per {name} group to compare "
            f"(each needs enough people in the audience)."
        )
    top = by[d.reference]
    if not d.alert:
        return (
            f"{subject}, {what}: no skew by {name} past the threshold — every group was shown it at "
            f"least {min_ratio:g} times as often as the most exposed "
            f"({d.reference}, {_pct(top.rate.estimate)}), "
            f"or the gap is within chance."
        )
    parts = []
    for g in d.skewed:
        r = by[g]
        diff = r.difference
        assert diff is not None
        assert r.ratio_to_reference is not None
        parts.append(
            f"{g} {_pct(r.rate.estimate)} ({r.shown} of {r.audience}), "
            f"{r.ratio_to_reference:.2f} times as often; "
            f"a gap of {100 * diff.estimate:+.0f} points (95% interval {100 * diff.low:+.0f} to "
            f"{100 * diff.high:+.0f})"
        )
    return (
        f"ALERT — {subject}, {what}: shown to {_pct(top.rate.estimate)} of {d.reference} "
        f"({top.shown} of {top.audience}) but to " + "; ".join(parts) + f". The four-fifths rule asks "
        f"at least {min_ratio:g}."
    )
