"""From stored events to interaction signals: which item, what kind, when, how many.

Pure functions over Segment e-commerce event bodies, shared by training (the whole
log) and serving (one visitor's recent events): ``Product Viewed``/``Product Clicked``
are views, ``Product Added`` an add to cart, ``Order Completed`` a purchase of each of
``properties.products[]``. ``Email Sent`` and ``Recommendations Shown`` name the items
a person was already sent (the email context leaves them out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from surmesure.consent.domain import ConsentState, consent_from_context, merge_consent

__all__ = [
    "KINDS",
    "SENT_EVENTS",
    "SIGNAL_EVENTS",
    "Signal",
    "Visitor",
    "sent_items",
    "signals_of",
    "timestamp_ms",
    "visitor_from_bodies",
]

#: event name → interaction kind (the keys of ``interactions.DEFAULT_WEIGHTS``)
KINDS: Mapping[str, str] = {
    "Product Viewed": "view",
    "Product Clicked": "view",
    "Product Added": "add_to_cart",
    "Order Completed": "purchase",
}
SIGNAL_EVENTS: tuple[str, ...] = tuple(KINDS)
#: events whose items were already shown or sent to the person
SENT_EVENTS: tuple[str, ...] = ("Email Sent", "Recommendations Shown")


@dataclass(frozen=True, slots=True)
class Signal:
    item_id: str
    kind: str  # view, add_to_cart, purchase
    timestamp_ms: int
    quantity: float | None = None


def _product_id(product: Any) -> str | None:
    if not isinstance(product, Mapping):
        return None
    for key in ("product_id", "productId", "id", "sku"):
        value = product.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _quantity(product: Mapping[str, Any]) -> float | None:
    value = product.get("quantity")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def signals_of(event: str | None, body: Mapping[str, Any], ts_ms: int) -> list[Signal]:
    """The item signals one event carries (none for other events)."""
    kind = KINDS.get(event or "")
    props = body.get("properties")
    if kind is None or not isinstance(props, Mapping):
        return []
    if kind == "purchase":
        products = props.get("products")
        found = []
        for product in products if isinstance(products, list) else []:
            item = _product_id(product)
            if item is not None:
                found.append(Signal(item, kind, ts_ms, _quantity(product)))
        return found
    item = _product_id(props)
    return [] if item is None else [Signal(item, kind, ts_ms, _quantity(props))]


def sent_items(body: Mapping[str, Any]) -> list[str]:
    """Item ids of an ``Email Sent``/``Recommendations Shown`` event: ``properties.products[]``
    (``product_id``), ``properties.items[]`` (``id``) or ``properties.item_ids``."""
    props = body.get("properties")
    if not isinstance(props, Mapping):
        return []
    found: list[str] = []
    for key in ("products", "items"):
        values = props.get(key)
        for value in values if isinstance(values, list) else []:
            item = _product_id(value)
            if item is not None:
                found.append(item)
    ids = props.get("item_ids")
    for value in ids if isinstance(ids, list) else []:
        if isinstance(value, str | int) and not isinstance(value, bool):
            found.append(str(value))
    return found


def timestamp_ms(body: Mapping[str, Any]) -> int:
    """The event time of a stored body (ISO 8601 ``timestamp``), 0 when unreadable."""
    value = body.get("timestamp")
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


@dataclass(frozen=True)
class Visitor:
    """What serving knows of the person asking: signals oldest first, items sent."""

    signals: tuple[Signal, ...] = ()
    sent: frozenset[str] = field(default_factory=frozenset)
    known: bool = False  # events were found for the identifier
    #: the latest explicit personalization choice the events carry (None: none said)
    personalization: bool | None = None
    #: when that choice was made (the event's time)
    personalization_at: int | None = None


def visitor_from_bodies(bodies: Iterable[Mapping[str, Any]]) -> Visitor:
    """A visitor from stored event bodies (any order); consent choices in their
    ``context`` are merged like the profile merges them (the latest wins)."""
    signals: list[Signal] = []
    sent: set[str] = set()
    consent: ConsentState = {}
    seen = False
    for body in bodies:
        seen = True
        context = body.get("context")
        if isinstance(context, dict) and "consent" in context:
            choices = consent_from_context(context)
            if "personalization" in choices:
                consent = merge_consent(
                    consent, {"personalization": choices["personalization"]}, at_ms=timestamp_ms(body),
                    source="event",
                )  # fmt: skip
        event = body.get("event")
        name = event if isinstance(event, str) else None
        if name in SENT_EVENTS:
            sent.update(sent_items(body))
        elif name in KINDS:
            signals.extend(signals_of(name, body, timestamp_ms(body)))
    signals.sort(key=lambda s: s.timestamp_ms)
    choice = consent.get("personalization")
    if choice is None:
        return Visitor(tuple(signals), frozenset(sent), seen)
    return Visitor(tuple(signals), frozenset(sent), seen, bool(choice["granted"]), int(choice["at_ms"]))
