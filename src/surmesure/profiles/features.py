"""Computed features of a profile as an order-free summary (a commutative monoid).

Every field is a count, a sum, a minimum or a maximum, so folding events in any
order — and combining two profiles when they merge — gives the same summary.
Decayed affinities use *forward decay*: an event at time t adds
``w · 2^((t - T0)/half_life)`` for a fixed anchor T0, and the reading at time ``now``
multiplies by ``2^(-(now - T0)/half_life)``; sums stay order-free and nothing has to
be rewritten as time passes.

Signals: ``Product Viewed`` < ``Product Added`` < ``Order Completed`` (weights 1, 3, 5).
Purchases (``Order Completed``) feed recency, frequency and monetary value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["SIGNAL_WEIGHTS", "combine", "empty", "fold", "read", "refused_analytics"]

DAY_MS = 86_400_000
ANCHOR_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z, the forward-decay anchor
SIGNAL_WEIGHTS: Mapping[str, float] = {
    "Product Viewed": 1.0,
    "Product Clicked": 1.0,
    "Product Added": 3.0,
    "Product Added to Wishlist": 2.0,
    "Order Completed": 5.0,
}
PURCHASE = "Order Completed"
_MAX_KEYS = 200  # affinity entries kept per profile: the smallest are dropped


def empty() -> dict[str, Any]:
    return {
        "counts": {},
        "first_ms": None,
        "last_ms": None,
        "orders": 0,
        "revenue": 0.0,
        "first_order_ms": None,
        "last_order_ms": None,
        "categories": {},
        "brands": {},
        "hours": [0] * 24,
        "channels": {},
    }


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _add_map(into: dict[str, float], other: Mapping[str, float]) -> None:
    for key, value in other.items():
        into[key] = into.get(key, 0) + value


def _trim(values: dict[str, float]) -> dict[str, float]:
    if len(values) <= _MAX_KEYS:
        return values
    return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:_MAX_KEYS])


def combine(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of the union of two event sets (merge of two profiles)."""
    out = empty()
    for src in (a, b):
        _add_map(out["counts"], src["counts"])
        _add_map(out["categories"], src["categories"])
        _add_map(out["brands"], src["brands"])
        _add_map(out["channels"], src["channels"])
        out["hours"] = [x + y for x, y in zip(out["hours"], src["hours"], strict=True)]
        out["orders"] += src["orders"]
        out["revenue"] += src["revenue"]
        out["first_ms"] = _min(out["first_ms"], src["first_ms"])
        out["last_ms"] = _max(out["last_ms"], src["last_ms"])
        out["first_order_ms"] = _min(out["first_order_ms"], src["first_order_ms"])
        out["last_order_ms"] = _max(out["last_order_ms"], src["last_order_ms"])
    out["categories"] = _trim(out["categories"])
    out["brands"] = _trim(out["brands"])
    return out


def refused_analytics(body: Mapping[str, Any]) -> bool:
    """An event whose own consent refuses analytics is stored but never profiled."""
    consent = (body.get("context") or {}).get("consent")
    if isinstance(consent, dict):
        prefs = consent.get("categoryPreferences", consent)
        if isinstance(prefs, dict) and prefs.get("analytics") is False:
            return True
    return False


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_QUARTER_MS = 900_000
_HOUR_MS = 3_600_000


def _hour(ts_ms: int, context: Mapping[str, Any]) -> int:
    """The local hour of ``ts_ms`` in the event's time zone (UTC when it names none)."""
    tz = context.get("timezone")
    offset = _offset_ms(tz, ts_ms // _QUARTER_MS) if isinstance(tz, str) and len(tz) < 64 else 0
    return ((ts_ms + offset) // _HOUR_MS) % 24


@lru_cache(maxsize=65536)
def _offset_ms(name: str, quarter: int) -> int:
    # Zones change offset only at whole quarter hours: one lookup per zone and quarter
    # instead of a datetime conversion per event.
    zone = _zone(name)
    if zone is None:
        return 0
    offset = datetime.fromtimestamp(quarter * _QUARTER_MS / 1000, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset else 0


def channel_of(body: Mapping[str, Any]) -> str:
    context = body.get("context") or {}
    declared = context.get("channel")
    if isinstance(declared, str) and declared:
        return declared[:32].lower()
    name = body.get("event") or ""
    if isinstance(name, str) and name.startswith("Email "):
        return "email"
    if body.get("type") == "screen" or isinstance(context.get("app"), dict):
        return "mobile"
    if context.get("userAgent") or context.get("page"):
        return "web"
    return "server"


def _decayed(weight: float, ts_ms: int, half_life_ms: float) -> float:
    return weight * math.pow(2.0, (ts_ms - ANCHOR_MS) / half_life_ms)


def _product_signals(body: Mapping[str, Any]) -> list[tuple[str | None, str | None, float]]:
    props = body.get("properties") or {}
    products = props.get("products")
    out: list[tuple[str | None, str | None, float]] = []
    if isinstance(products, list) and products:
        for product in products[:100]:
            if isinstance(product, dict):
                qty = product.get("quantity", 1)
                out.append((_text(product.get("category")), _text(product.get("brand")), _num(qty, 1.0)))
    else:
        out.append((_text(props.get("category")), _text(props.get("brand")), 1.0))
    return out


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    return None


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return default
        return number if math.isfinite(number) else default
    return default


def fold(
    state: dict[str, Any], events: Iterable[tuple[int, Mapping[str, Any]]], half_life_days: float
) -> None:
    """Add events — ``(timestamp_ms, body)`` — to ``state`` in place."""
    half_life_ms = half_life_days * DAY_MS
    for ts_ms, body in events:
        if refused_analytics(body):
            continue
        kind = body.get("type", "track")
        name = body.get("event") if kind == "track" else None
        key = f"track:{name}" if name else str(kind)
        state["counts"][key] = state["counts"].get(key, 0) + 1
        state["first_ms"] = _min(state["first_ms"], ts_ms)
        state["last_ms"] = _max(state["last_ms"], ts_ms)
        context = body.get("context") or {}
        state["hours"][_hour(ts_ms, context)] += 1
        channel = channel_of(body)
        state["channels"][channel] = state["channels"].get(channel, 0) + 1
        weight = SIGNAL_WEIGHTS.get(name or "", 0.0) if kind == "track" else 0.0
        if kind == "page" and (body.get("properties") or {}).get("category"):
            weight = 0.5
        if weight:
            for category, brand, qty in _product_signals(body):
                value = _decayed(weight * max(qty, 1.0) ** 0.5, ts_ms, half_life_ms)
                if category:
                    state["categories"][category] = state["categories"].get(category, 0.0) + value
                if brand:
                    state["brands"][brand] = state["brands"].get(brand, 0.0) + value
        if name == PURCHASE:
            props = body.get("properties") or {}
            revenue = _num(props.get("revenue"), _num(props.get("total")))
            state["orders"] += 1
            state["revenue"] += revenue
            state["first_order_ms"] = _min(state["first_order_ms"], ts_ms)
            state["last_order_ms"] = _max(state["last_order_ms"], ts_ms)
    state["categories"] = _trim(state["categories"])
    state["brands"] = _trim(state["brands"])


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ranked(values: Mapping[str, float], now_ms: int, half_life_ms: float, top: int) -> list[dict[str, Any]]:
    scale = math.pow(2.0, -(now_ms - ANCHOR_MS) / half_life_ms)
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"name": name, "score": round(value * scale, 4)} for name, value in ranked]


def read(state: Mapping[str, Any], *, now_ms: int, half_life_days: float, top: int = 10) -> dict[str, Any]:
    """The features as a person reads them, at ``now_ms``."""
    half_life_ms = half_life_days * DAY_MS
    hours = state["hours"]
    channels = state["channels"]
    last_order = state["last_order_ms"]
    orders = state["orders"]
    return {
        "event_counts": dict(sorted(state["counts"].items())),
        "first_seen": _iso(state["first_ms"]),
        "last_seen": _iso(state["last_ms"]),
        "recency_days": None if last_order is None else round((now_ms - last_order) / DAY_MS, 2),
        "frequency": orders,
        "monetary": round(state["revenue"], 2),
        "average_order_value": round(state["revenue"] / orders, 2) if orders else None,
        "first_order": _iso(state["first_order_ms"]),
        "last_order": _iso(last_order),
        "category_affinity": _ranked(state["categories"], now_ms, half_life_ms, top),
        "brand_affinity": _ranked(state["brands"], now_ms, half_life_ms, top),
        "preferred_hour": max(range(24), key=lambda h: (hours[h], -h)) if any(hours) else None,
        "preferred_channel": max(sorted(channels), key=lambda c: channels[c]) if channels else None,
    }
