"""Synthetic shop traffic for the ingestion benchmark: realistic Segment events.

A few thousand people browse (page, Product Viewed), add to cart, buy (Order
Completed with ``products[]``) and sign in (identify linking their anonymousId to a
userId, with an email trait). Once identified, a person's later events carry the
userId too, as analytics.js does. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = ["batch_bodies", "shop_events", "single_bodies"]

CATEGORIES = (
    "Shoes",
    "Shirts",
    "Jackets",
    "Bags",
    "Watches",
    "Kitchen",
    "Garden",
    "Books",
    "Toys",
    "Beauty",
    "Sports",
    "Electronics",
)
BRANDS = tuple(f"Brand{i:02d}" for i in range(30))
PAGES = ("/", "/search", "/category", "/product", "/cart", "/checkout", "/account")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
)
ZONES = ("Europe/Paris", "Europe/Berlin", "America/New_York", "UTC")


@dataclass
class _Person:
    anonymous_id: str
    user_id: str
    email: str
    zone: str
    agent: str
    identified: bool = False


@dataclass(frozen=True, slots=True)
class _Product:
    product_id: str
    sku: str
    name: str
    category: str
    brand: str
    price: float


def _products(rng: random.Random, n: int = 500) -> list[_Product]:
    out = []
    for i in range(n):
        category = rng.choice(CATEGORIES)
        out.append(
            _Product(
                f"p{i:04d}",
                f"SKU-{i:05d}",
                f"{category} item {i}",
                category,
                rng.choice(BRANDS),
                round(rng.uniform(5, 300), 2),
            )
        )
    return out


def _product_props(product: _Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "brand": product.brand,
        "price": product.price,
        "currency": "EUR",
    }


def shop_events(n: int, *, people: int = 3000, seed: int = 7, prefix: str = "m") -> list[dict[str, Any]]:
    """``n`` events of a shop, oldest first, spread over the last hour."""
    rng = random.Random(seed)
    products = _products(rng)
    crowd = [
        _Person(
            str(uuid.UUID(int=rng.getrandbits(128))),
            f"user-{i}",
            f"person{i}@example.com",
            rng.choice(ZONES),
            rng.choice(AGENTS),
        )
        for i in range(people)
    ]
    start = datetime.now(UTC) - timedelta(hours=1)
    step = 3600.0 / max(n, 1)
    events: list[dict[str, Any]] = []
    for i in range(n):
        person = rng.choice(crowd)
        when = (start + timedelta(seconds=i * step)).isoformat(timespec="milliseconds")
        page = rng.choice(PAGES)
        event: dict[str, Any] = {
            "messageId": f"{prefix}-{seed}-{i:07d}-{rng.getrandbits(32):08x}",
            "anonymousId": person.anonymous_id,
            "timestamp": when,
            "context": {
                "library": {"name": "analytics.js", "version": "2.11.1"},
                "userAgent": person.agent,
                "locale": "fr-FR",
                "timezone": person.zone,
                "page": {"path": page, "url": f"https://shop.example{page}", "referrer": ""},
            },
        }
        if person.identified:
            event["userId"] = person.user_id
        roll = rng.random()
        product = rng.choice(products)
        if roll < 0.33:
            event.update(
                type="page",
                name=page.strip("/") or "home",
                properties={"path": page, "title": "Shop", "category": product.category},
            )
        elif roll < 0.68:
            event.update(type="track", event="Product Viewed", properties=_product_props(product))
        elif roll < 0.80:
            event.update(
                type="track",
                event="Product Added",
                properties={**_product_props(product), "quantity": rng.randint(1, 3)},
            )
        elif roll < 0.87:
            event.update(
                type="track", event="Products Searched", properties={"query": product.category.lower()}
            )
        elif roll < 0.93:
            basket = rng.sample(products, rng.randint(1, 4))
            lines = [{**_product_props(p), "quantity": rng.randint(1, 2)} for p in basket]
            event.update(
                type="track",
                event="Order Completed",
                properties={
                    "order_id": f"o-{seed}-{i}",
                    "revenue": round(sum(p["price"] * p["quantity"] for p in lines), 2),
                    "currency": "EUR",
                    "products": lines,
                },
            )
        else:
            person.identified = True
            event.update(
                type="identify",
                userId=person.user_id,
                traits={"email": person.email, "firstName": f"P{person.user_id[5:]}", "plan": "free"},
            )
        events.append(event)
    return events


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_bodies(events: list[dict[str, Any]], size: int) -> list[bytes]:
    """``POST /v1/batch`` bodies of ``size`` events each, serialized once, up front."""
    sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return [orjson.dumps({"batch": chunk, "sentAt": sent_at}) for chunk in _chunks(events, size)]


def single_bodies(events: list[dict[str, Any]]) -> list[bytes]:
    """``POST /v1/track`` bodies: the track events only, one per request."""
    return [orjson.dumps(e) for e in events if e["type"] == "track"]
