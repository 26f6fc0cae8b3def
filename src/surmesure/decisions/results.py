"""Attribution at read time and the results of an experiment.

Impressions, clicks and conversions come back as ordinary ``track`` events carrying
``properties.decision_id``; nothing on the ingestion path looks at them. Reading the
results gathers the experiment's logged decisions, reads the events of the people they
were made for (through the events service) and keeps those naming one of the
decisions:

* ``Placement Viewed`` — an impression;
* ``Placement Clicked`` — a click;
* ``Order Completed`` (or ``Placement Converted``) — a conversion, its revenue from
  ``properties.revenue`` (else ``total``).

A visitor is the live profile a decision's identifier belongs to now (so a visitor who
logged in between two decisions counts once), else the identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from surmesure.events import service as events_service
from surmesure.experiments.stats import sequential_test, summarize_arm
from surmesure.profiles.service import ProfileService
from surmesure.segments.service import ProfileSource

__all__ = ["CLICK", "CONVERSIONS", "IMPRESSION", "Attribution", "results"]

IMPRESSION = "Placement Viewed"
CLICK = "Placement Clicked"
CONVERSIONS = frozenset({"Order Completed", "Placement Converted"})
_CHUNK = 500


@dataclass
class _Outcome:
    arm: str
    visitor: str
    at_ms: int
    viewed: bool = False
    clicked: bool = False
    converted: bool = False
    revenue: float = 0.0
    bandit: Any = None  # the bandit's record: probabilities, feature names and vector


@dataclass
class Attribution:
    """Per decision: its arm, its visitor, and what the events say happened after."""

    outcomes: dict[str, _Outcome] = field(default_factory=dict)

    @classmethod
    def read(
        cls, conn: sa.Connection, rows: Sequence[Any], profiles: ProfileService, source: ProfileSource
    ) -> Attribution:
        out = cls()
        visitor_of: dict[str, str] = {}
        for r in rows:
            if r.person not in visitor_of:
                kind, _, value = r.person.partition(":")
                pid = (
                    profiles.resolve_id(conn, value, kind)
                    if kind in ("user_id", "anonymous_id", "email")
                    else None
                )
                visitor_of[r.person] = pid or r.profile_id or r.person
            out.outcomes[r.decision_id] = _Outcome(
                r.arm or "holdout", visitor_of[r.person], int(r.at_ms), bandit=r.bandit
            )
        keys = set(visitor_of)
        pids = [v for v in set(visitor_of.values()) if ":" not in v]
        for person_keys in source.keys(conn, pids).values():
            keys.update(person_keys)
        users = sorted(k.split(":", 1)[1] for k in keys if k.startswith("user_id:"))
        anons = sorted(k.split(":", 1)[1] for k in keys if k.startswith("anonymous_id:"))
        for start in range(0, max(len(users), len(anons)), _CHUNK):
            for event in events_service.events_of(
                conn, users[start : start + _CHUNK], anons[start : start + _CHUNK]
            ):
                if event.event != IMPRESSION and event.event != CLICK and event.event not in CONVERSIONS:
                    continue
                body = orjson.loads(event.body)
                props = body.get("properties") or {}
                outcome = out.outcomes.get(str(props.get("decision_id", "")))
                if outcome is None:
                    continue
                if event.event == IMPRESSION:
                    outcome.viewed = True
                elif event.event == CLICK:
                    outcome.clicked = True
                else:
                    outcome.converted = True
                    value = props.get("revenue", props.get("total", 0))
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        outcome.revenue += float(value)
        return out

    def arm_counts(self) -> dict[str, tuple[int, int]]:
        """arm → (decisions shown, decisions clicked): the bandit's feedback."""
        counts: dict[str, list[int]] = {}
        for o in self.outcomes.values():
            c = counts.setdefault(o.arm, [0, 0])
            c[0] += 1 if (o.viewed or o.clicked) else 0
            c[1] += 1 if o.clicked else 0
        return {arm: (c[0], c[1]) for arm, c in counts.items()}

    def clicks(self, arm: str) -> list[bool]:
        """Per decision of the arm that was shown (viewed or clicked), in decision order:
        clicked or not (the units of CTR)."""
        return [o.clicked for o in self.outcomes.values() if o.arm == arm and (o.viewed or o.clicked)]

    def contextual(self, features: Sequence[str]) -> tuple[list[str], list[list[float]], list[float]]:
        """The contextual bandit's feedback: per decision shown on these feature names,
        its arm, the vector it was decided on, and 1 when clicked else 0."""
        arms: list[str] = []
        xs: list[list[float]] = []
        rewards: list[float] = []
        wanted = list(features)
        for o in self.outcomes.values():
            record = o.bandit if isinstance(o.bandit, dict) else {}
            if not (o.viewed or o.clicked) or record.get("features") != wanted:
                continue
            arms.append(o.arm)
            xs.append([float(v) for v in record["x"]])
            rewards.append(1.0 if o.clicked else 0.0)
        return arms, xs, rewards

    def visitors(self, arm: str) -> tuple[list[bool], list[float]]:
        """Per visitor of the arm, in order of their first decision: converted, revenue."""
        first: dict[str, int] = {}
        converted: dict[str, bool] = {}
        revenue: dict[str, float] = {}
        for o in self.outcomes.values():
            if o.arm != arm:
                continue
            first[o.visitor] = min(first.get(o.visitor, o.at_ms), o.at_ms)
            converted[o.visitor] = converted.get(o.visitor, False) or o.converted
            revenue[o.visitor] = revenue.get(o.visitor, 0.0) + o.revenue
        order = sorted(first, key=lambda v: (first[v], v))
        return [converted[v] for v in order], [revenue[v] for v in order]


def _interval(i: Any) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    return {"estimate": clean(i.estimate), "low": clean(i.low), "high": clean(i.high)}


def results(attribution: Attribution, arms: Sequence[str], tau2: float, alpha: float) -> dict[str, Any]:
    """CTR, conversion and revenue per visitor per arm (fixed-horizon intervals), and
    each arm against the first by the always-valid mSPRT: on conversion per visitor,
    then on CTR (clicks per impression, impressions in decision order)."""
    counts = attribution.arm_counts()
    out_arms = []
    per_arm: dict[str, tuple[list[bool], list[float]]] = {}
    for arm in arms:
        converted, revenue = attribution.visitors(arm)
        per_arm[arm] = (converted, revenue)
        shown, clicked = counts.get(arm, (0, 0))
        decisions = sum(1 for o in attribution.outcomes.values() if o.arm == arm)
        s = summarize_arm(arm, shown, clicked, np.asarray(converted, dtype=bool), np.asarray(revenue), alpha)
        out_arms.append({
            "arm": arm, "decisions": decisions, "visitors": s.visitors,
            "impressions": shown, "clicks": clicked,
            "ctr": _interval(s.ctr), "conversion": _interval(s.conversion),
            "revenue_per_visitor": _interval(s.revenue_per_visitor),
        })  # fmt: skip
    control = arms[0]
    comparisons = []
    for metric in ("conversion", "ctr"):
        for arm in arms[1:]:
            if metric == "conversion":
                a, b = per_arm[control][0], per_arm[arm][0]
            else:
                a, b = attribution.clicks(control), attribution.clicks(arm)
            comparisons.append(_compare(metric, control, arm, a, b, tau2, alpha))
    return {"arms": out_arms, "sequential": comparisons, "alpha": alpha, "tau2": tau2}


_UNITS = {"conversion": "visitor", "ctr": "impression"}


def _compare(
    metric: str, control: str, arm: str, a: Sequence[bool], b: Sequence[bool], tau2: float, alpha: float
) -> dict[str, Any]:
    """The always-valid mSPRT of ``arm`` against ``control`` on one metric's units in order
    (visitors for conversion, impressions for CTR); the test pairs the first ``paired``
    units of each arm (``experiments.stats.sequential_test``), its difference is theirs."""
    test = sequential_test(np.asarray(a, dtype=float), np.asarray(b, dtype=float), tau2, alpha)
    name = "CTR" if metric == "ctr" else metric
    verdict = (
        f"{arm} differs from {control} on {name} (always-valid p = {test.p_value:.3g})"
        if test.significant
        else f"no proven difference in {name} between {arm} and {control} yet: keep collecting"
    )
    return {
        "arm": arm, "against": control, "metric": metric, "unit": _UNITS[metric],
        "n": [len(a), len(b)], "paired": min(len(a), len(b)), "difference": _interval(test.interval),
        "p_value": round(test.p_value, 6), "significant": test.significant, "verdict": verdict,
    }  # fmt: skip
