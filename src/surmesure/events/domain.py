"""Turning one received item into a stored event, or into a rejection with a stable code.

Pure: no I/O, the clock is an argument. The result row is exactly what the event log
stores; the body is the normalized event (Segment's shape), serialized once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from surmesure.clock import utc_ms
from surmesure.consent.domain import minimize_ip
from surmesure.consent.pseudonym import Pseudonymizer
from surmesure.events.spec import EventIn
from surmesure.ids import is_placeholder, new_id

__all__ = ["EARLIEST_MS", "ERASED_IDENTITY", "Limits", "Normalized", "Rejected", "erased", "normalize"]

EARLIEST_MS = utc_ms(datetime(2000, 1, 1, tzinfo=UTC))
_HASH_EXCLUDED = ("sentAt", "receivedAt", "writeKey")
_RAW_KEEP = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int
    max_future_skew_ms: int
    known_types: frozenset[str]
    ip_mode: Literal["truncate", "hash", "drop"] = "truncate"
    ip_key: str = ""
    #: pseudonymized mode and minimization (``[privacy]``); None: events kept as sent
    pseudonymizer: Pseudonymizer | None = None


@dataclass(frozen=True, slots=True)
class Normalized:
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str
    reason: str
    message_id: str | None
    raw: str
    raw_size: int

    def quarantine_row(self, *, received_ms: int, source: str) -> dict[str, Any]:
        return {
            "received_ms": received_ms,
            "source": source,
            "code": self.code,
            "reason": self.reason,
            "message_id": self.message_id,
            "raw_size": self.raw_size,
            "raw": self.raw[:_RAW_KEEP],
        }


def content_hash(item: dict[str, Any]) -> str:
    """Hash of what a client meant: retries re-stamp ``sentAt``, so it is left out."""
    content = {k: v for k, v in item.items() if k not in _HASH_EXCLUDED}
    return hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@lru_cache(maxsize=4096)
def _minimize_ip(ip: str, mode: Literal["truncate", "hash", "drop"], key: str) -> str | None:
    return minimize_ip(ip, mode, key=key)


def _minimized_ip(ip: str, limits: Limits) -> str | None:
    # Most events come from few addresses, and parsing one (ipaddress) cost a third of
    # normalize(); the result depends only on the arguments. Long strings are not kept.
    if len(ip) > 64:
        return minimize_ip(ip, limits.ip_mode, key=limits.ip_key)
    return _minimize_ip(ip, limits.ip_mode, limits.ip_key)


def _iso(ms: int) -> str:
    """``2026-11-23T10:11:12.345Z``: three per event, so the date part is cached and the
    rest is arithmetic (a third of the cost of ``datetime.isoformat``)."""
    seconds, milli = divmod(ms, 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_date(days)}T{hours:02d}:{minutes:02d}:{secs:02d}.{milli:03d}Z"


@lru_cache(maxsize=4096)
def _date(days: int) -> str:
    return datetime.fromtimestamp(days * 86400, UTC).strftime("%Y-%m-%d")


def _reject(code: str, reason: str, item: Any, raw: bytes | None = None) -> Rejected:
    if raw is None:
        try:
            raw = orjson.dumps(item)
        except TypeError:
            raw = repr(item).encode()
    message_id = item.get("messageId") if isinstance(item, dict) else None
    if not isinstance(message_id, str):
        message_id = None
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if message_id:
        message_id = message_id[:255].replace("\x00", "\ufffd")
    return Rejected(code, reason.replace("\x00", "\ufffd"), message_id or None, text, len(raw))


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "event"
    return f"{where}: {first['msg']}"


def normalize(
    item: Any,
    *,
    received: datetime,
    limits: Limits,
    source: str,
    batch_sent_at: datetime | None = None,
    batch_context: dict[str, Any] | None = None,
    client_ip: str | None = None,
    gpc_header: bool = False,
    forced_type: str | None = None,
) -> Normalized | Rejected:
    """Validate one item and build its stored row; every failure has a stable code."""
    if not isinstance(item, dict):
        return _reject("events.invalid_event", "an event must be a JSON object", item)
    raw = orjson.dumps(item)
    if len(raw) > limits.max_event_bytes:
        return _reject(
            "events.event_too_large",
            f"event is {len(raw)} bytes; the limit is {limits.max_event_bytes}",
            item,
            raw,
        )
    if forced_type is not None:
        if item.get("type", forced_type) != forced_type:
            return _reject("events.unknown_type", f"this endpoint takes '{forced_type}' events", item, raw)
        item = {**item, "type": forced_type}
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in limits.known_types:
        return _reject("events.unknown_type", f"unknown event type {kind!r}", item, raw)
    try:
        event = EventIn.model_validate(item)
    except ValidationError as error:
        return _reject("events.invalid_event", _first_error(error), item, raw)

    user_id = None if is_placeholder(event.userId) else event.userId
    anonymous_id = None if is_placeholder(event.anonymousId) else event.anonymousId
    if user_id is None and anonymous_id is None:
        return _reject(
            "events.missing_identity",
            "an event needs a userId or an anonymousId that is not a placeholder",
            item,
            raw,
        )
    if any("\x00" in v for v in (event.messageId, event.event, event.name, user_id, anonymous_id) if v):
        # no store keeps NUL in a text column (PostgreSQL refuses it): refuse it here, alone
        return _reject("events.invalid_event", "ids and names must not contain a NUL character", item, raw)
    missing = _missing_field(event)
    if missing:
        return _reject("events.missing_field", missing, item, raw)

    received_ms = utc_ms(received)
    latest_ms = received_ms + limits.max_future_skew_ms
    happened = event.timestamp or event.originalTimestamp
    original_ms = utc_ms(happened) if happened is not None else received_ms
    if not EARLIEST_MS <= original_ms <= latest_ms:
        return _reject(
            "events.timestamp_out_of_range",
            "timestamp must lie between 2000-01-01 and 24 hours after the server's clock",
            item,
            raw,
        )
    sent = event.sentAt or batch_sent_at
    timestamp_ms = original_ms
    if happened is not None and sent is not None:
        # Segment's clock-skew correction: the client's clock is off by (sentAt - receivedAt).
        corrected = received_ms - (utc_ms(sent) - original_ms)
        if EARLIEST_MS <= corrected <= latest_ms:
            timestamp_ms = corrected

    context = {**(batch_context or {}), **event.context}
    ip = context.get("ip") if isinstance(context.get("ip"), str) else client_ip
    if ip:
        minimized = _minimized_ip(ip, limits)
        if minimized is None:
            context.pop("ip", None)
        else:
            context["ip"] = minimized
    if gpc_header:
        context["gpc"] = True

    message_id = event.messageId or f"srv-{new_id()}"
    body: dict[str, Any] = {"type": kind, "messageId": message_id}
    for key in ("event", "name", "category", "anonymousId", "userId", "previousId", "groupId"):
        value = getattr(event, key)
        if value is not None:
            body[key] = value
    body["timestamp"] = _iso(timestamp_ms)
    if happened is not None:
        body["originalTimestamp"] = _iso(original_ms)
    if sent is not None:
        body["sentAt"] = _iso(utc_ms(sent))
    body["receivedAt"] = _iso(received_ms)
    for key in ("properties", "traits", "context", "integrations"):
        value = context if key == "context" else getattr(event, key)
        if value:
            body[key] = value
    if limits.pseudonymizer is not None:
        body = limits.pseudonymizer.event(body)
        if user_id is not None:
            user_id = body["userId"]
        if anonymous_id is not None:
            anonymous_id = body["anonymousId"]
    row = {
        "message_id": message_id,
        "content_hash": content_hash(item),
        "type": kind,
        "event": event.event if kind == "track" else event.name,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "timestamp_ms": timestamp_ms,
        "received_ms": received_ms,
        "source": source,
        "body": orjson.dumps(body).decode(),
    }
    return Normalized(row)


#: an event naming a person who was erased (privacy): kept out of the log, counted
ERASED_IDENTITY = "events.erased_identity"


def erased(message_id: str | None, kind: str, hashes: list[str]) -> Rejected:
    """The quarantine of an event that names an erased person: the row keeps the keyed
    hashes of the erased identifiers it matched and nothing the person sent."""
    raw = orjson.dumps({"type": kind, "messageId": message_id, "erased": sorted(hashes)}).decode()
    reason = "the event names a person whose data was erased; it is not stored"
    return Rejected(ERASED_IDENTITY, reason, message_id, raw, len(raw))


def _missing_field(event: EventIn) -> str | None:
    if event.type == "track" and not event.event:
        return "a track event needs an 'event' name"
    if event.type == "alias" and (is_placeholder(event.previousId) or is_placeholder(event.userId)):
        return "an alias needs a 'previousId' and a 'userId' that are not placeholders"
    if event.type == "group" and is_placeholder(event.groupId):
        return "a group call needs a 'groupId'"
    return None
