"""The personalization choice a visitor's events carry: the latest explicit one."""

from __future__ import annotations

from typing import Any

from surmesure.recommendations.signals import visitor_from_bodies


def _body(ts: str, choice: bool | None, event: str = "Product Viewed") -> dict[str, Any]:
    body: dict[str, Any] = {"event": event, "timestamp": ts, "properties": {"product_id": "a"}}
    if choice is not None:
        body["context"] = {"consent": {"categoryPreferences": {"personalization": choice}}}
    return body


def test_the_latest_choice_wins_whatever_the_order() -> None:
    granted = _body("2026-01-02T00:00:00Z", True)
    refused = _body("2026-01-01T00:00:00Z", False)
    silent = _body("2026-01-03T00:00:00Z", None)
    assert visitor_from_bodies([silent, granted, refused]).personalization is True
    assert visitor_from_bodies([refused, silent]).personalization is False
    assert visitor_from_bodies([silent]).personalization is None
    assert len(visitor_from_bodies([silent, granted]).signals) == 2


def test_at_the_same_time_a_refusal_wins() -> None:
    ts = "2026-01-01T00:00:00Z"
    assert visitor_from_bodies([_body(ts, True), _body(ts, False)]).personalization is False
    assert visitor_from_bodies([_body(ts, False), _body(ts, True)]).personalization is False
