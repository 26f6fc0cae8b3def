"""Unmodified Segment-compatible and RudderStack-compatible client libraries, pointed at
the server (host + write key), deliver their events.

The official Python clients are used as they ship: ``segment-analytics-python``
(``segment.analytics``) and ``rudder-sdk-python`` (``rudderstack.analytics``), with
their own defaults (the RudderStack client gzips its batches), their background
consumer thread and ``flush()``. Only the host, the write key, an error callback and a
short retry budget are configured, as a user would. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from rudderstack import analytics as rudder_analytics
from segment import analytics as segment_analytics

from conftest import WRITE_KEY, LiveServer

AT = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def _segment_client(server: LiveServer, errors: list[Any], **options: Any) -> Any:
    return segment_analytics.Client(
        write_key=WRITE_KEY,
        host=server.url,
        on_error=lambda error, batch: errors.append((error, batch)),
        max_retries=1,
        max_total_backoff_duration=5,  # seconds: a failing test ends instead of retrying for hours
        max_rate_limit_duration=5,
        **options,
    )


def _segment_gzip_client(server: LiveServer, errors: list[Any]) -> Any:
    """The Segment client with its documented ``gzip=True`` option."""
    return _segment_client(server, errors, gzip=True)


def _rudder_client(server: LiveServer, errors: list[Any]) -> Any:
    return rudder_analytics.Client(
        write_key=WRITE_KEY,
        host=server.url,
        on_error=lambda error, batch: errors.append((error, batch)),
        max_retries=1,
    )


CLIENTS: dict[str, Callable[[LiveServer, list[Any]], Any]] = {
    "segment": _segment_client,
    "segment-gzip": _segment_gzip_client,
    "rudderstack": _rudder_client,  # gzips every batch by default (Content-Encoding: gzip)
}


def _send_everything(client: Any, prefix: str) -> None:
    """One call of each kind of the tracking API, as the client libraries spell them."""
    user, anon = f"{prefix}-user-1", f"{prefix}-anon-1"
    client.identify(
        user,
        {"email": f"{prefix}@example.com", "plan": "gold"},
        timestamp=AT,
        message_id=f"{prefix}-identify",
    )
    client.track(
        user,
        "Order Completed",
        {"order_id": "o-1", "revenue": 42.5, "products": [{"product_id": "p-1", "category": "Shoes"}]},
        timestamp=AT,
        message_id=f"{prefix}-track",
    )
    client.track(
        event="Product Viewed",
        properties={"product_id": "p-2"},
        anonymous_id=anon,
        timestamp=AT,
        message_id=f"{prefix}-track-anon",
    )
    client.page(
        user,
        "Docs",
        "Quick start",
        {"url": "https://shop.example/docs"},
        timestamp=AT,
        message_id=f"{prefix}-page",
    )
    client.screen(user, "Account", "Orders", {"tab": "recent"}, timestamp=AT, message_id=f"{prefix}-screen")
    client.group(user, "company-7", {"name": "Acme"}, timestamp=AT, message_id=f"{prefix}-group")
    client.alias(anon, user, timestamp=AT, message_id=f"{prefix}-alias")


def _stored(server: LiveServer, prefix: str) -> dict[str, dict[str, Any]]:
    events = sa.table(
        "events", sa.column("message_id"), sa.column("type"), sa.column("user_id"), sa.column("body")
    )
    with server.services.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.message_id, events.c.type, events.c.user_id, events.c.body).where(
                events.c.message_id.like(f"{prefix}-%")
            )
        ).all()
    return {r.message_id: {"type": r.type, "user_id": r.user_id, "body": orjson.loads(r.body)} for r in rows}


def _quarantined(server: LiveServer) -> list[tuple[str, str]]:
    quarantine = sa.table("event_quarantine", sa.column("code"), sa.column("reason"))
    with server.services.engine.connect() as conn:
        return [(r.code, r.reason) for r in conn.execute(sa.select(quarantine.c.code, quarantine.c.reason))]


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_official_client_library_delivers_every_call(server: LiveServer, library: str) -> None:
    errors: list[Any] = []
    client = CLIENTS[library](server, errors)
    try:
        _send_everything(client, library)
        client.flush()
    finally:
        client.join()

    assert errors == [], f"the {library} client could not deliver: {errors[0][0]!r}"
    assert _quarantined(server) == []
    stored = _stored(server, library)
    user, anon = f"{library}-user-1", f"{library}-anon-1"
    assert {mid: (e["type"], e["user_id"]) for mid, e in stored.items()} == {
        f"{library}-identify": ("identify", user),
        f"{library}-track": ("track", user),
        f"{library}-track-anon": ("track", None),
        f"{library}-page": ("page", user),
        f"{library}-screen": ("screen", user),
        f"{library}-group": ("group", user),
        f"{library}-alias": ("alias", user),
    }

    identify = stored[f"{library}-identify"]["body"]
    # Segment sends traits at the top level; RudderStack's client moves them into context.traits
    traits = identify.get("traits") or identify["context"]["traits"]
    assert traits["plan"] == "gold"
    order = stored[f"{library}-track"]["body"]
    assert order["event"] == "Order Completed"
    assert order["properties"] == {
        "order_id": "o-1",
        "revenue": 42.5,
        "products": [{"product_id": "p-1", "category": "Shoes"}],
    }
    assert order["timestamp"].startswith("2026-03-14T15:09:2")  # clock-skew corrected, seconds away at most
    assert order["context"]["library"]["name"]
    viewed = stored[f"{library}-track-anon"]["body"]
    assert (viewed["anonymousId"], viewed["properties"]) == (anon, {"product_id": "p-2"})
    page = stored[f"{library}-page"]["body"]
    assert (page["category"], page["name"], page["properties"]["url"]) == (
        "Docs",
        "Quick start",
        "https://shop.example/docs",
    )
    screen = stored[f"{library}-screen"]["body"]
    assert (screen["name"], screen["properties"]) == ("Orders", {"tab": "recent"})
    assert stored[f"{library}-group"]["body"]["groupId"] == "company-7"
    assert stored[f"{library}-alias"]["body"]["previousId"] == anon


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_client_library_retry_is_deduplicated(server: LiveServer, library: str) -> None:
    """A client that sends the same message twice (a retry) stores it once."""
    errors: list[Any] = []
    client = CLIENTS[library](server, errors)
    try:
        for _ in range(2):
            client.track(f"{library}-u", "Signed Up", {"n": 1}, timestamp=AT, message_id=f"{library}-retry")
            client.flush()
    finally:
        client.join()
    assert errors == []
    assert list(_stored(server, library)) == [f"{library}-retry"]
