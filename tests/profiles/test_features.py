"""Computed features: known values, and the same summary whatever the order or grouping."""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from surmesure.profiles import features

DAY = features.DAY_MS
T0 = 1_790_000_000_000


def ev(name: str, day: float, **props: Any) -> tuple[int, dict[str, Any]]:
    return (int(T0 + day * DAY), {"type": "track", "event": name, "properties": props})


def summary(events: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    state = features.empty()
    features.fold(state, events, half_life_days=30)
    return state


def test_rfm_and_counts() -> None:
    state = summary(
        [
            ev("Product Viewed", 0, category="Shoes", brand="Nike"),
            ev("Order Completed", 1, revenue=30, products=[{"category": "Shoes", "brand": "Nike"}]),
            ev("Order Completed", 11, revenue=10),
        ]
    )
    view = features.read(state, now_ms=T0 + 21 * DAY, half_life_days=30)
    assert view["frequency"] == 2
    assert view["monetary"] == 40
    assert view["recency_days"] == 10
    assert view["average_order_value"] == 20
    assert view["event_counts"] == {"track:Order Completed": 2, "track:Product Viewed": 1}
    assert view["category_affinity"][0]["name"] == "Shoes"


def test_affinity_decays_with_half_life() -> None:
    state = summary([ev("Product Viewed", 0, category="A")])
    now = features.read(state, now_ms=T0, half_life_days=30)["category_affinity"][0]["score"]
    later = features.read(state, now_ms=T0 + 30 * DAY, half_life_days=30)["category_affinity"][0]["score"]
    assert math.isclose(later, now / 2, rel_tol=1e-3)


def test_purchase_weighs_more_than_view() -> None:
    state = summary(
        [
            ev("Product Viewed", 0, category="Viewed"),
            ev("Order Completed", 0, products=[{"category": "Bought"}]),
        ]
    )
    ranked = features.read(state, now_ms=T0, half_life_days=30)["category_affinity"]
    assert [r["name"] for r in ranked] == ["Bought", "Viewed"]


def test_events_refusing_analytics_are_not_profiled() -> None:
    refused = (
        T0,
        {
            "type": "track",
            "event": "Product Viewed",
            "context": {"consent": {"categoryPreferences": {"analytics": False}}},
        },
    )
    assert summary([refused])["counts"] == {}


def _approx(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert a[key].keys() == b[key].keys(), key
            for k in a[key]:
                assert math.isclose(a[key][k], b[key][k], rel_tol=1e-9), (key, k)
        elif isinstance(a[key], float):
            assert math.isclose(a[key], b[key], rel_tol=1e-9), key
        else:
            assert a[key] == b[key], key


_events = st.lists(
    st.builds(
        ev,
        st.sampled_from(["Product Viewed", "Product Added", "Order Completed", "Signed Up"]),
        st.floats(0, 60),
        category=st.sampled_from(["A", "B", "C"]),
        brand=st.sampled_from(["x", "y"]),
        revenue=st.integers(0, 100),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_events, st.integers(0, 30), st.randoms(use_true_random=False))
def test_fold_and_combine_are_order_free(
    events: list[tuple[int, dict[str, Any]]], cut: int, rnd: random.Random
) -> None:
    whole = summary(events)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    _approx(whole, summary(shuffled))
    parts = features.combine(summary(shuffled[:cut]), summary(shuffled[cut:]))
    _approx(whole, parts)


_ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "UTC",
]


@given(
    ts_ms=st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000),
    zone=st.sampled_from([*_ZONES, "Not/AZone", ""]),
)
@settings(max_examples=400, deadline=None)
def test_preferred_hour_uses_the_local_hour_of_the_event_zone(ts_ms: int, zone: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    expected = moment.astimezone(ZoneInfo(zone)).hour if zone in _ZONES else moment.hour
    state = features.empty()
    features.fold(state, [(ts_ms, {"type": "page", "context": {"timezone": zone}})], 30.0)
    assert state["hours"][expected] == 1
