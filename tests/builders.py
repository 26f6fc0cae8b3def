"""Valid payloads, so each test states only what it is about."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["batch", "identify", "item", "page", "track"]

_counter = itertools.count()


def _base(kind: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "messageId": f"msg-{uuid.uuid4().hex}",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    event.update(fields)
    if "userId" not in event and "anonymousId" not in event:
        event["anonymousId"] = f"anon-{next(_counter)}"
    return {k: v for k, v in event.items() if v is not None}


def track(event: str = "Product Viewed", **fields: Any) -> dict[str, Any]:
    return _base("track", event=event, **fields)


def identify(user_id: str, **fields: Any) -> dict[str, Any]:
    return _base("identify", userId=user_id, **fields)


def page(name: str = "Home", **fields: Any) -> dict[str, Any]:
    return _base("page", name=name, **fields)


def batch(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"batch": list(events), **fields}


def item(item_id: str, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": item_id,
        "type": "product",
        "title": f"Item {item_id}",
        "price": 10.0,
        "currency": "EUR",
        "category_path": ["Home", "Kitchen"],
        "brand": "Acme",
    }
    value.update(fields)
    return value
