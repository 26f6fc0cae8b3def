"""The pipeline step (people touched by each step's events) and the batch recompute
(everyone) write the same memberships, scores and personas, at the same instant."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surmesure import db
from surmesure.app import build_services
from surmesure.clock import FixedClock, utc_ms
from surmesure.events import store as event_store
from surmesure.segments import store as segment_store

from conftest import make_settings

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

POOL: dict[str, dict[str, Any]] = {
    "shoe-viewers": {
        "condition": {
            "count": {
                "event": "Product Viewed",
                "where": {"properties.category": {"eq": "Shoes"}},
                "within_days": 7,
            },
            "gte": 2,
        }
    },
    "not-buying": {
        "condition": {
            "and": [
                {"segment": "shoe-viewers"},
                {"not": {"count": {"event": "Order Completed", "within_days": 7}, "gte": 1}},
            ]
        }
    },
    "buyers": {"condition": {"field": "features.orders", "gte": 1}},
    "big-spenders": {"condition": {"field": "features.monetary", "gt": 50}},
    "pros": {"condition": {"or": [{"field": "traits.plan", "eq": "pro"}, {"consent": "marketing"}]}},
    "bag-fans": {"condition": {"field": "features.category_affinity.Bags", "gt": 1.5}},
    "lead": {
        "kind": "score",
        "rules": [
            {"when": {"segment": "shoe-viewers"}, "points": 10},
            {"when": {"count": {"event": "Product Added", "within_days": 3}, "gte": 1}, "points": 5},
            {"when": {"field": "traits.plan", "exists": True}, "points": 1},
        ],
    },
    "persona": {
        "kind": "persona",
        "personas": [
            {"name": "spender", "when": {"segment": "big-spenders"}},
            {"name": "hesitant", "when": {"segment": "not-buying"}},
        ],
        "default": "browser",
    },
}
NEEDS = {"not-buying": {"shoe-viewers"}, "lead": {"shoe-viewers"}, "persona": {"big-spenders", "not-buying"}}


def _event(
    person: int, both: bool, name: str, category: str, minutes_ago: int, amount: int
) -> dict[str, Any]:
    ids: dict[str, Any] = {"anonymousId": f"a{person}"}
    if both or person % 3 == 0:
        ids["userId"] = f"u{person % 4}"
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    if name == "identify":
        return {"type": "identify", "traits": {"plan": category.lower()}, "timestamp": at, **ids}
    context = {"consent": {"marketing": True}} if amount % 5 == 0 else {}
    props: dict[str, Any] = {"category": category, "revenue": amount}
    return {"type": "track", "event": name, "properties": props, "context": context, "timestamp": at, **ids}


events_strategy = st.lists(
    st.builds(
        _event,
        st.integers(0, 5),
        st.booleans(),
        st.sampled_from(["Product Viewed", "Product Viewed", "Product Added", "Order Completed", "identify"]),
        st.sampled_from(["Shoes", "Bags", "Pro"]),
        st.integers(0, 14 * 24 * 60),
        st.integers(0, 80),
    ),
    min_size=1,
    max_size=40,
)


def _snapshot(engine: sa.Engine) -> set[tuple[str, str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(segment_store.members)).all()
    return {(r.segment_id, r.profile_id, str(r.value)) for r in rows}


def incremental_then_batch(
    store_url: str, data_dir: Path, events: list[dict[str, Any]], chosen: set[str], cut: list[int]
) -> set[tuple[str, str, Any]]:
    while not all(NEEDS.get(sid, set()) <= chosen for sid in chosen):
        chosen = chosen | {n for sid in chosen for n in NEEDS.get(sid, set())}
    services = build_services(make_settings(data_dir, store_url), clock=FixedClock(NOW))
    try:
        segments = services.capabilities["segments"]
        for sid in sorted(chosen, key=lambda s: (s in NEEDS, s == "persona")):
            segments.put(sid, POOL[sid])
        writer, ingestor = services.capabilities["writer"], services.capabilities["ingestor"]
        writer.start()
        start = 0
        for end in [*sorted(set(cut)), len(events)]:
            if end > start:
                ingestor.ingest_sync(events[start:end], source="test")
                start = end
        writer.stop()
        unifier = services.capabilities["profiles"].unifier
        now_ms = utc_ms(NOW)
        with services.engine.connect() as conn:
            entries = event_store.pending_outbox(conn, 1000)
        for entry in entries:  # one step per group commit, as the worker may take them
            with db.writing(services.engine) as conn:
                rows = event_store.read_commits(conn, [entry])
                unifier.process(conn, rows, now_ms)
                segments.process(conn, rows, now_ms)
        incremental = _snapshot(services.engine)
        segments.recompute()
        batch = _snapshot(services.engine)
        assert incremental == batch
        return batch
    finally:
        services.engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy,
    chosen=st.sets(st.sampled_from(sorted(POOL)), min_size=1),
    cut=st.lists(st.integers(0, 40), min_size=1, max_size=6),
)
def test_incremental_equals_batch(events: list[dict[str, Any]], chosen: set[str], cut: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        incremental_then_batch(f"sqlite:///{tmp}/store.db", Path(tmp), events, chosen, cut)


def test_incremental_equals_batch_on_both_stores(store_url: str, tmp_path: Path) -> None:
    events = [
        _event(1, False, "Product Viewed", "Shoes", 60, 0),
        _event(1, False, "Product Viewed", "Shoes", 30, 0),
        _event(2, True, "Product Viewed", "Shoes", 20, 0),
        _event(2, True, "Order Completed", "Shoes", 10, 60),
        _event(3, False, "identify", "Pro", 5, 0),
        _event(6, True, "Product Viewed", "Bags", 9000, 5),
        _event(1, True, "Product Added", "Shoes", 1, 0),  # anonymous person 1 identified: a merge
    ]
    rows = incremental_then_batch(store_url, tmp_path, events, set(POOL), [2, 4])
    by_segment: dict[str, list[str]] = {}
    for sid, _pid, value in rows:
        by_segment.setdefault(sid, []).append(value)
    assert len(by_segment["shoe-viewers"]) == 1  # person 1: two views of Shoes within 7 days
    assert len(by_segment["not-buying"]) == 1
    assert len(by_segment["buyers"]) == 1
    assert len(by_segment["big-spenders"]) == 1
    # persons 2 and 6 share user u2: three profiles
    assert sorted(by_segment["persona"]) == ["browser", "hesitant", "spender"]
    assert "bag-fans" not in by_segment
