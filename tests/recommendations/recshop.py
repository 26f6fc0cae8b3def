"""A tiny shop whose right recommendations are obvious, loaded through the HTTP API of
a live server, and a model trained on it: shoes people only touch shoes, hat people
only hats."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from surmesure.recommendations.training import train

from builders import batch, item, track
from conftest import LiveServer

#: the context of a visitor who granted personalization (without it, answers are not personal)
CONSENTED: dict[str, Any] = {"consent": {"categoryPreferences": {"personalization": True}}}
SHOES = [f"s{i}" for i in range(12)]
HATS = [f"h{i}" for i in range(12)]


def catalogue() -> list[dict[str, Any]]:
    items = []
    for kind, ids in (("Shoes", SHOES), ("Hats", HATS)):
        for n, item_id in enumerate(ids):
            fields: dict[str, Any] = {
                "title": f"{kind[:-1]} {n}",
                "category_path": ["Fashion", kind],
                "price": 10.0 + 10 * n,
                "tags": ["sale"] if n % 2 == 0 else ["new"],
                "brand": "Acme" if n < 6 else "Zenith",
            }
            if n == 11:
                fields["stock"] = 0  # out of stock
            if n in (0, 1):
                fields["attributes"] = {"group_id": f"{kind}-01"}  # two variants of one product
            items.append(item(item_id, **fields))
    return items


def _viewed(person: str, product: str) -> dict[str, Any]:
    return track("Product Viewed", userId=person, properties={"product_id": product}, context=CONSENTED)


def events(seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(40):
        person = f"person-{p}"
        ids = SHOES if p < 20 else HATS
        picks = rng.choice(11, 5, replace=False)
        out.extend(_viewed(person, ids[int(i)]) for i in picks)
        added = {"product_id": ids[int(picks[0])]}
        out.append(track("Product Added", userId=person, properties=added, context=CONSENTED))
        products = [{"product_id": ids[int(i)], "quantity": 1} for i in picks[:2]]
        out.append(
            track(
                "Order Completed",
                userId=person,
                properties={"order_id": f"o{p}", "products": products},
                context=CONSENTED,
            )
        )
    return out


def load(server: LiveServer, admin: httpx.Client) -> None:
    assert admin.put("/v1/items", json={"items": catalogue()}).status_code == 200
    assert admin.post("/v1/batch", json=batch(*events())).status_code == 200
    server.wait_pipeline()


def retrain(server: LiveServer) -> str:
    """Train on the server's store and swap the new version in; its name."""
    manifest = train(server.services.engine, server.settings)
    server.services.capabilities["recommendations"].reload()
    return str(manifest["version"])


def ready(server: LiveServer, admin: httpx.Client) -> str:
    load(server, admin)
    return retrain(server)
