"""The contextual bandit's feature vector: the documented encoding (intercept first,
missing → 0, booleans 0/1, eq, log1p, clipping) and the validation of feature lists."""

from __future__ import annotations

import math
from typing import Any

import pytest

from surmesure.decisions import context
from surmesure.decisions.domain import InvalidExperiment, InvalidFeatures, parse_experiment

ARMS = [{"name": "a", "variant": "x"}, {"name": "b", "variant": "y"}]


def _features(*features: Any) -> list[Any]:
    design = parse_experiment("e", {"placement": "p", "kind": "lin_ucb", "arms": ARMS, "features": features})
    return design.context_features()


def test_the_encoding_is_the_documented_one() -> None:
    features = _features(
        "traits.vip",
        "traits.age",
        {"field": "traits.plan", "eq": "pro"},
        {"field": "traits.flag", "eq": True},
        {"field": "features.monetary", "transform": "log1p"},
        "features.event_counts.Order Completed",
        "features.category_affinity.Shoes",
        "segments.loyal",
        "segments.lead",
        {"field": "segments.persona", "eq": "spender"},
        "traits.missing",
        "traits.name",
        "traits.huge",
        "traits.address.zip",
    )
    assert context.names(features)[:4] == ["intercept", "traits.vip", "traits.age", "traits.plan == 'pro'"]
    assert context.names(features)[5] == "log1p(features.monetary)"
    traits = {"vip": True, "age": 41, "plan": "pro", "flag": 1, "name": "Ann", "huge": 1e300,
              "address": {"zip": 75001}}  # fmt: skip
    view = {
        "monetary": math.e - 1,
        "event_counts": {"Order Completed": 3},
        "category_affinity": {"Hats": 0.5},
    }
    members = {"loyal": True, "lead": 25, "persona": "spender"}
    x = context.encode(features, traits, view, members)
    assert x == [
        1.0,
        1.0,
        41.0,
        1.0,
        0.0,
        pytest.approx(1.0),
        3.0,
        0.0,
        1.0,
        25.0,
        1.0,
        0.0,
        0.0,
        1e6,
        75001.0,
    ]
    # a boolean eq only matches a boolean (1 is not true); a missing value is 0
    assert context.encode(features, {}, {}, {}) == [1.0] + [0.0] * 14


def test_a_negative_count_under_log1p_is_zero_and_nan_is_missing() -> None:
    features = _features({"field": "traits.x", "transform": "log1p"}, "traits.y")
    assert context.encode(features, {"x": -5, "y": float("nan")}, {}, {}) == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("features", "kind", "code", "path"),
    [
        (["context.page.url"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["traits"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["features.rfm"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["features.event_counts"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["features.frequency.x"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["features.preferred_channel"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["traits.a.b.c.d.e"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["traits.x{{7*7}}"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["segments.Bad Id"], "lin_ucb", "decisions.invalid_features", "features.0"),
        (["traits.a", "traits.a"], "linear_thompson", "decisions.invalid_features", "features.1"),
        ([f"traits.t{i}" for i in range(21)], "lin_ucb", "decisions.invalid_features", "features"),
        ([], "lin_ucb", "decisions.invalid_features", "features"),
        (["traits.a"], "ab", "decisions.invalid_features", "features"),
        (["traits.a"], "thompson", "decisions.invalid_features", "features"),
        (
            [{"field": "traits.a", "eq": 1, "transform": "log1p"}],
            "lin_ucb",
            "decisions.invalid_features",
            "features.0",
        ),
        ([{"field": "traits.a", "code": "x"}], "lin_ucb", "decisions.invalid_features", "features.0"),
        ([42], "lin_ucb", "decisions.invalid_features", "features.0"),
    ],
)
def test_bad_feature_lists_are_refused_with_a_path(
    features: list[Any], kind: str, code: str, path: str
) -> None:
    with pytest.raises(InvalidFeatures) as raised:
        parse_experiment("e", {"placement": "p", "kind": kind, "arms": ARMS, "features": features})
    assert raised.value.code == code
    assert raised.value.details["problems"][0]["path"].startswith(path)
    assert "experiment e: features" in raised.value.message


@pytest.mark.parametrize(
    "extra",
    [
        {"holdout_share": 0.1},  # a contextual bandit has no holdout
        {"floor": 0.6},  # floor x arms > 1
        {"ceiling": 0.4},  # ceiling x arms < 1
        {"floor": 0.3, "ceiling": 0.2},
    ],
)
def test_bad_bounds_of_a_contextual_bandit_are_refused(extra: dict[str, Any]) -> None:
    raw = {"placement": "p", "kind": "linear_thompson", "arms": ARMS, "features": ["traits.a"], **extra}
    with pytest.raises(InvalidExperiment) as raised:
        parse_experiment("e", raw)
    assert raised.value.code == "decisions.invalid_experiment"
