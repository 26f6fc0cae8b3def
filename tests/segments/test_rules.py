"""Conditions are data: operators give known answers, bad trees are refused with the
path of the bad node, and nothing a condition holds is ever run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from surmesure.segments.definitions import (
    InvalidDefinitionFile,
    SegmentCycle,
    UnknownSegment,
    check_references,
    load_file,
    parse_definition,
)
from surmesure.segments.evaluate import DAY_MS, Person, evaluate
from surmesure.segments.rules import ConditionTooLarge, InvalidCondition, parse_condition

NOW = 1_800_000_000_000


def person(**overrides: Any) -> Person:
    values: dict[str, Any] = {
        "profile_id": "p1",
        "traits": {"plan": "pro", "age": 34, "tags": ["a", "b"], "address": {"city": "Lyon"}},
        "features": {
            "orders": 3,
            "monetary": 120.5,
            "recency_days": 4.0,
            "category_affinity": {"Shoes": 2.5},
            "last_order": "2026-11-20T10:00:00Z",
        },
        "consent": {"marketing": True, "personalization": False},
        "events": [],
    }
    values.update(overrides)
    return Person(**values)


def check(raw: dict[str, Any], who: Person | None = None) -> bool:
    return evaluate(parse_condition(raw), who or person(), NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"field": "traits.plan", "eq": "pro"}, True),
        ({"field": "traits.plan", "ne": "pro"}, False),
        ({"field": "traits.age", "gt": 30}, True),
        ({"field": "traits.age", "gte": 34}, True),
        ({"field": "traits.age", "lt": 34}, False),
        ({"field": "traits.age", "lte": 34.0}, True),
        ({"field": "traits.plan", "in": ["free", "pro"]}, True),
        ({"field": "traits.plan", "not_in": ["free", "pro"]}, False),
        ({"field": "traits.plan", "exists": True}, True),
        ({"field": "traits.missing", "exists": False}, True),
        ({"field": "traits.missing", "eq": None}, False),
        ({"field": "traits.missing", "ne": "x"}, True),
        ({"field": "traits.missing", "gt": 1}, False),
        ({"field": "traits.tags", "contains": "b"}, True),
        ({"field": "traits.plan", "contains": "r"}, True),
        ({"field": "traits.address.city", "eq": "Lyon"}, True),
        ({"field": "traits.age", "eq": "34"}, False),  # no coercion between strings and numbers
        ({"field": "traits.plan", "gt": 3}, False),  # incomparable: false, not an error
        ({"field": "features.orders", "gte": 3}, True),
        ({"field": "features.monetary", "gt": 100}, True),
        ({"field": "features.recency_days", "lte": 7}, True),
        ({"field": "features.category_affinity.Shoes", "gt": 1}, True),
        ({"field": "features.category_affinity.Bags", "gt": 0}, False),
        ({"field": "features.last_order", "gte": "2026-11-01"}, True),
        ({"consent": "marketing"}, True),
        ({"consent": "personalization"}, False),
        ({"consent": "analytics"}, False),
        ({"and": [{"consent": "marketing"}, {"field": "traits.plan", "eq": "pro"}]}, True),
        ({"or": [{"consent": "personalization"}, {"field": "traits.plan", "eq": "free"}]}, False),
        ({"not": {"field": "traits.plan", "eq": "free"}}, True),
    ],
)
def test_operators(raw: dict[str, Any], expected: bool) -> None:
    assert check(raw) is expected


def _ev(days_ago: float, name: str, **props: Any) -> tuple[int, dict[str, Any]]:
    return (int(NOW - days_ago * DAY_MS), {"type": "track", "event": name, "properties": props})


def test_windowed_counts_with_property_filters() -> None:
    events = [
        _ev(1, "Product Viewed", category="Shoes"),
        _ev(2, "Product Viewed", category="Shoes"),
        _ev(6.9, "Product Viewed", category="Shoes"),
        _ev(8, "Product Viewed", category="Shoes"),  # outside 7 days
        _ev(1, "Product Viewed", category="Bags"),
        _ev(10, "Order Completed", revenue=30),
    ]
    who = person(events=events)
    viewed = {
        "count": {
            "event": "Product Viewed",
            "where": {"properties.category": {"eq": "Shoes"}},
            "within_days": 7,
        },
        "gte": 3,
    }
    bought = {"count": {"event": "Order Completed", "within_days": 7}, "gte": 1}
    assert check(viewed, who)
    assert check({"and": [viewed, {"not": bought}]}, who)  # viewed Shoes 3 times in 7 days, did not buy
    assert not check({**viewed, "gte": 4}, who)
    assert check({"count": {"event": "Product Viewed"}, "eq": 5}, who)  # no window: every event
    assert check({"count": {"event": "Order Completed", "within_days": 30}, "eq": 1}, who)
    refused = (int(NOW - DAY_MS), {**events[0][1], "context": {"consent": {"analytics": False}}})
    assert not check({**viewed, "gte": 4}, person(events=[*events, refused]))  # never profiled, never counted


def test_membership_of_other_segments() -> None:
    who = person()
    who.segments["vip"] = True
    assert check({"segment": "vip"}, who)
    assert not check({"segment": "churned"}, who)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"field": "traits.plan", "eq": 1, "ne": 2}, "condition"),
        ({"field": "traits.plan"}, "condition"),
        ({"field": "traits.plan", "like": "p%"}, "condition.field.like"),
        ({"field": "profile.plan", "eq": 1}, "condition.field"),
        ({"and": [{"consent": "marketing"}, {"frobnicate": 1}]}, "condition.and.1"),
        ({"and": []}, "condition.and"),
        ({"not": {"count": {"event": "x", "within_days": 0}, "gte": 1}}, "condition.not.count.within_days"),
        ({"count": {"event": "x", "where": {"body": {"eq": 1}}}, "gte": 1}, "condition.count.where"),
        ({"count": {"event": "x"}, "gte": 1.5}, "condition.count.gte"),
        ({"or": [{"field": "traits.a", "in": "not a list"}]}, "condition.or.0.field.in"),
        ("traits.plan == 'pro'", "condition"),
        ([{"consent": "marketing"}], "condition"),
    ],
)
def test_invalid_conditions_name_the_bad_node(raw: Any, path: str) -> None:
    with pytest.raises(InvalidCondition) as caught:
        parse_condition(raw)
    error = caught.value
    assert error.code == "segments.invalid_condition"
    paths = [p["path"] for p in error.details["problems"]]
    assert any(p.startswith(path) for p in paths), paths


def test_size_and_depth_are_bounded() -> None:
    deep: dict[str, Any] = {"consent": "marketing"}
    for _ in range(40):
        deep = {"not": deep}
    with pytest.raises(ConditionTooLarge):
        parse_condition(deep)
    wide = {"or": [{"and": [{"consent": "marketing"}] * 40}] * 40}
    with pytest.raises((ConditionTooLarge, InvalidCondition)):
        parse_condition(wide)
    ok: dict[str, Any] = {"consent": "marketing"}
    for _ in range(10):
        ok = {"not": ok}
    parse_condition(ok)


CANARY_CODE = "__import__('os').system('touch {canary}')"


def _attempts(canary: Path) -> list[Any]:
    code = CANARY_CODE.format(canary=canary)
    return [
        {"field": code, "eq": 1},
        {"field": f"traits.{code}", "eq": 1},
        {"field": "traits.plan", "eq": code},
        {
            "field": "traits.plan",
            "in": [code, "{{ cycler.__init__.__globals__.os.system('touch " + str(canary) + "') }}"],
        },
        {"field": "traits.{{ 7*7 }}", "eq": 49},
        {"count": {"event": code, "where": {f"properties.{code}": {"eq": code}}}, "gte": 1},
        {
            "count": {"event": "x", "where": {"properties.a": {"eq": "{% import os %}{{ os.system('x') }}"}}},
            "gte": 1,
        },
        {"consent": code},
        {"segment": code},
        {code: {"eq": 1}},
        code,
        {"field": "traits.plan", "matches": f"(a+)+$|{code}"},
    ]


def test_code_in_conditions_is_never_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    who = person(events=[_ev(1, "Product Viewed", category="Shoes")], traits={"plan": "pro"})
    for raw in _attempts(canary):
        try:
            definition = parse_definition("attempt", {"kind": "segment", "condition": raw})
        except InvalidCondition:
            continue
        assert definition.condition is not None
        assert evaluate(definition.condition, who, NOW) is False
    assert not canary.exists()


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for text in (
        f"segments:\n  x: !!python/object/apply:os.system ['touch {canary}']\n",
        f"segments: !!python/object/new:os.system ['touch {canary}']\n",
        "segments:\n  x: !!python/name:os.system\n",
    ):
        path = tmp_path / "segments.yaml"
        path.write_text(text)
        with pytest.raises(InvalidDefinitionFile):
            load_file(path)
    assert not canary.exists()


def test_yaml_file_of_definitions(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(
        """
segments:
  shoe-lovers:
    name: Shoe lovers
    condition:
      and:
        - count: {event: Product Viewed, where: {properties.category: {eq: Shoes}}, within_days: 7}
          gte: 3
        - not: {count: {event: Order Completed, within_days: 7}, gte: 1}
  lead-score:
    kind: score
    rules:
      - {when: {segment: shoe-lovers}, points: 20}
      - {when: {field: traits.plan, eq: pro}, points: 5}
  persona:
    kind: persona
    personas:
      - {name: hesitant, when: {segment: shoe-lovers}}
    default: browser
"""
    )
    found = load_file(path)
    assert {d.kind for d in found.values()} == {"segment", "score", "persona"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments:\n  a:\n    condition: {field: traits.x, between: [1, 2]}\n")
    with pytest.raises(InvalidCondition) as caught:
        load_file(bad)
    assert caught.value.details["segment"] == "a"


def test_references_and_cycles() -> None:
    a = parse_definition("a", {"condition": {"segment": "b"}})
    b = parse_definition("b", {"condition": {"not": {"segment": "a"}}})
    with pytest.raises(SegmentCycle) as caught:
        check_references({"a": a, "b": b})
    assert caught.value.code == "segments.cycle"
    with pytest.raises(SegmentCycle):
        check_references({"a": parse_definition("a", {"condition": {"segment": "a"}})})
    with pytest.raises(UnknownSegment):
        check_references({"a": a})
    score = parse_definition(
        "b", {"kind": "score", "rules": [{"when": {"consent": "marketing"}, "points": 1}]}
    )
    with pytest.raises(UnknownSegment):
        check_references({"a": a, "b": score})


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"kind": "cohort", "condition": {}}, "kind"),
        ({"condition": {"consent": "marketing"}, "sql": "DROP TABLE x"}, "sql"),
        ({"kind": "score", "rules": [{"when": {"consent": "marketing"}, "points": "10"}]}, "rules.0.points"),
        ({"kind": "score", "rules": [{"when": {"consent": "x"}}]}, "rules.0"),
        ({"kind": "persona", "personas": [{"name": "", "when": {"consent": "x"}}]}, "personas.0.name"),
        ({"kind": "persona", "personas": [{"name": "a", "when": {"nope": 1}}]}, "personas.0.when"),
    ],
)
def test_invalid_definitions(raw: Any, path: str) -> None:
    with pytest.raises(InvalidCondition) as caught:
        parse_definition("x", raw)
    assert caught.value.details["problems"][0]["path"].startswith(path)


def test_ids_are_plain() -> None:
    for bad in ("", "A", "a b", "../x", "x" * 65):
        with pytest.raises(InvalidCondition):
            parse_definition(bad, {"condition": {"consent": "marketing"}})
