"""A pure evaluator: a condition, one person's view and their recent events → an answer.

Nothing here reads the store or the clock: the same person, events and ``now_ms``
give the same answer, which is what makes the pipeline's incremental update and the
batch recompute agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from surmesure.profiles import features
from surmesure.segments.rules import (
    And,
    Comparison,
    Condition,
    Consent,
    Count,
    CountSpec,
    FieldTest,
    Member,
    Not,
    Or,
)

__all__ = ["Person", "compare", "count_events", "evaluate", "feature_view"]

DAY_MS = 86_400_000
_MISSING = object()


@dataclass
class Person:
    """What a condition may look at: traits, features as read at ``now_ms``, consent
    (purpose → allowed), the events of the longest window, the segments already known."""

    profile_id: str
    traits: Mapping[str, Any]
    features: Mapping[str, Any]
    consent: Mapping[str, bool]
    events: Sequence[tuple[int, Mapping[str, Any]]] = ()
    segments: dict[str, bool] = field(default_factory=dict)


def feature_view(state: Mapping[str, Any], now_ms: int, half_life_days: float) -> dict[str, Any]:
    """``features.read`` with affinities as ``{name: score}`` and ``orders`` for frequency."""
    view = features.read(state, now_ms=now_ms, half_life_days=half_life_days, top=200)
    view["category_affinity"] = {e["name"]: e["score"] for e in view["category_affinity"]}
    view["brand_affinity"] = {e["name"]: e["score"] for e in view["brand_affinity"]}
    view["orders"] = view["frequency"]
    return view


def _lookup(root: Any, parts: Sequence[str]) -> Any:
    value = root
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _order(left: Any, right: Any) -> int | None:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    return None


def _equal(left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return type(left) is type(right) and bool(left == right)


def compare(value: Any, test: Comparison) -> bool:
    """One comparison; a missing value is only ``ne``, ``not_in`` and ``exists: false``."""
    op, operand = test.operator()
    if op == "exists":
        return (value is not _MISSING and value is not None) is bool(operand)
    if value is _MISSING or value is None:
        return op in ("ne", "not_in") and operand is not None
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return not _equal(value, operand)
    if op == "in":
        return any(_equal(value, x) for x in operand)
    if op == "not_in":
        return not any(_equal(value, x) for x in operand)
    if op == "contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list | tuple):
            return any(_equal(x, operand) for x in value)
        if isinstance(value, Mapping):
            return isinstance(operand, str) and operand in value
        return False
    order = _order(value, operand)
    if order is None:
        return False
    return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]


def _matches(spec: CountSpec, ts_ms: int, body: Mapping[str, Any], now_ms: int) -> bool:
    if spec.within_days is not None and ts_ms < now_ms - spec.within_days * DAY_MS:
        return False
    if ts_ms > now_ms:
        return False
    kind = body.get("type", "track")
    if spec.type is not None and kind != spec.type:
        return False
    if spec.event is not None and (kind != "track" or body.get("event") != spec.event):
        return False
    return all(compare(_lookup(body, path.split(".")), test) for path, test in spec.where.items())


def count_events(spec: CountSpec, events: Sequence[tuple[int, Mapping[str, Any]]], now_ms: int) -> int:
    return sum(
        1
        for ts_ms, body in events
        if not features.refused_analytics(body) and _matches(spec, ts_ms, body, now_ms)
    )


def evaluate(node: Condition, person: Person, now_ms: int) -> bool:
    """The answer of ``node`` for ``person``; segments it names must be in ``person.segments``."""
    if isinstance(node, And):
        return all(evaluate(child, person, now_ms) for child in node.all_)
    if isinstance(node, Or):
        return any(evaluate(child, person, now_ms) for child in node.any_)
    if isinstance(node, Not):
        return not evaluate(node.not_, person, now_ms)
    if isinstance(node, Member):
        return person.segments.get(node.segment, False)
    if isinstance(node, Consent):
        return bool(person.consent.get(node.consent, False))
    if isinstance(node, Count):
        op, operand = node.operator()
        n = count_events(node.count, person.events, now_ms)
        return {
            "eq": n == operand,
            "ne": n != operand,
            "gt": n > operand,
            "gte": n >= operand,
            "lt": n < operand,
            "lte": n <= operand,
        }[op]
    if isinstance(node, FieldTest):
        root, *rest = node.field.split(".")
        source = person.traits if root == "traits" else person.features
        return compare(_lookup(source, rest), node)
    raise TypeError(f"unknown condition node {type(node).__name__}")  # pragma: no cover
