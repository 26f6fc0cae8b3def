"""HTTP edge of collection: Segment's tracking API (``/v1/batch``, ``/v1/track``...).

Bodies are read raw with a size cap and parsed with orjson: FastAPI's body
validation would parse twice and could not produce per-item errors. The OpenAPI
schema is still declared for each route.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError

from surmesure.access.domain import Principal
from surmesure.access.guards import principal_for
from surmesure.clock import utc_ms
from surmesure.deps import Services, ServicesDep
from surmesure.errors import Forbidden, InvalidInput, MalformedJson, UnsupportedMediaType
from surmesure.events.service import Ingestor
from surmesure.events.spec import EVENT_TYPES, BatchIn, EventIn, IngestResult
from surmesure.http import JSON

__all__ = ["BatchRejected", "BatchTooLarge", "EventRejected", "EventTooLarge", "router"]

router = APIRouter(prefix="/v1", tags=["collect"])

UNAUTHENTICATED = "unauthenticated"
_RAW_HEAD = 64 * 1024
_ACCEPTED_TYPES = ("application/json", "text/plain", "application/x-ndjson", "")


class UnsupportedEncoding(InvalidInput):
    code = "request.unsupported_encoding"
    http_status = 415


class MalformedEncoding(InvalidInput):
    code = "request.malformed_encoding"
    http_status = 400


class BatchTooLarge(InvalidInput):
    code = "events.batch_too_large"
    http_status = 413


class EventTooLarge(InvalidInput):
    code = "events.event_too_large"
    http_status = 413


class EventRejected(InvalidInput):
    """A single event was refused; ``code`` is the item's own (see docs/errors.md)."""

    code = "events.rejected"
    http_status = 400


class BatchRejected(InvalidInput):
    code = "events.batch_rejected"
    http_status = 400


class InvalidBatch(InvalidInput):
    code = "events.invalid_batch"
    http_status = 400


class InvalidEvent(InvalidInput):
    code = "events.invalid_event"
    http_status = 400


class UnknownType(InvalidInput):
    code = "events.unknown_type"
    http_status = 400


class MissingIdentity(InvalidInput):
    code = "events.missing_identity"
    http_status = 400


class MissingField(InvalidInput):
    code = "events.missing_field"
    http_status = 400


class TimestampOutOfRange(InvalidInput):
    code = "events.timestamp_out_of_range"
    http_status = 400


class ErasedIdentity(InvalidInput):
    """The event names a person whose data was erased (privacy's tombstones)."""

    code = "events.erased_identity"
    http_status = 400


_ITEM_ERRORS: dict[str, type[InvalidInput]] = {
    cls.code: cls
    for cls in (
        EventTooLarge, InvalidEvent, UnknownType, MissingIdentity, MissingField, TimestampOutOfRange,
        ErasedIdentity,
    )
}  # fmt: skip


def ingestor(services: Services) -> Ingestor:
    value: Ingestor = services.capabilities["ingestor"]
    return value


class _Inflater:
    """Undo ``Content-Encoding`` (gzip, deflate) as chunks arrive, never past a limit."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise UnsupportedEncoding(f"send the body plain, gzip or deflate, not {encoding!r}")

    def feed(self, chunk: bytes, room: int) -> bytes:
        """At most ``room`` bytes of plain body from ``chunk`` (more input may remain)."""
        if self._z is None:
            return chunk
        try:
            return self._z.decompress(self._z.unconsumed_tail + chunk, max(room, 1))
        except zlib.error as error:
            raise MalformedEncoding(f"the {self.encoding} body cannot be decoded: {error}") from None

    def more(self, room: int) -> bytes:
        """Plain bytes still held back from input already fed."""
        if self._z is None or not self._z.unconsumed_tail:
            return b""
        return self.feed(b"", room)


async def _read_body(
    request: Request, limit: int, services: Services, source: str, too_large: type[InvalidInput]
) -> bytes:
    """Read at most ``limit`` plain bytes; a larger body is quarantined (its head) and refused.

    Bodies may be gzip- or deflate-encoded (``Content-Encoding``); the limit applies to
    the decoded body, so a small compressed bomb is refused as soon as it grows past it.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"send JSON (application/json), not {content_type!r}")
    inflater = _Inflater(request.headers.get("content-encoding", "").strip().lower())
    declared = request.headers.get("content-length", "")
    declared_size = int(declared) if declared.isdigit() and inflater.encoding in ("", "identity") else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        plain = inflater.feed(chunk, limit + 1 - size)
        while plain:
            size += len(plain)
            chunks.append(plain)
            if size > limit:
                break
            plain = inflater.more(limit + 1 - size)
        if size > limit or (declared_size is not None and declared_size > limit and size >= _RAW_HEAD):
            break  # stop reading: what is kept of a refused body is its head
    body = b"".join(chunks)
    if size > limit or (declared_size is not None and declared_size > limit):
        await _quarantine_request(
            services,
            source,
            too_large.code,
            "request body too large",
            body,
            size=max(size, declared_size or 0),
        )
        raise too_large(f"the request body exceeds {limit} bytes", limit=limit)
    return body


async def _quarantine_request(
    services: Services, source: str, code: str, reason: str, raw: bytes, *, size: int | None = None
) -> None:
    if source == UNAUTHENTICATED:
        return  # nothing is stored for callers without a valid key: no disk for strangers
    size = len(raw) if size is None else size
    if ingestor(services).limits.pseudonymizer is not None:
        # pseudonymized mode or minimization: a body that could not be read as events
        # cannot be told apart, so none of it is kept (validation messages quote it)
        raw, reason = b"", reason.split("\n", 1)[0]
    row = {
        "received_ms": utc_ms(services.clock.now()),
        "source": source,
        "code": code,
        "reason": reason.replace("\x00", "\ufffd"),
        "message_id": None,
        "raw_size": size,
        "raw": raw[:_RAW_HEAD].decode("utf-8", "replace").replace("\x00", "\ufffd"),
    }
    await asyncio.wrap_future(ingestor(services).writer.submit([], [row]))


async def _parse(body: bytes, services: Services, source: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        await _quarantine_request(services, source, "request.malformed_json", str(error), body)
        raise MalformedJson(f"the body is not valid JSON: {error}") from None


def _options(request: Request, principal_source: str) -> dict[str, Any]:
    return {
        "source": principal_source,
        "client_ip": request.client.host if request.client else None,
        "gpc_header": request.headers.get("sec-gpc") == "1",
    }


def _status(result: IngestResult) -> None:
    """Raise the error a fully refused request deserves; partial batches answer 200."""
    if result.status != "rejected":
        return
    if result.received == 1:
        item = result.errors[0]
        cls = _ITEM_ERRORS.get(item.code, EventRejected)
        raise cls(item.message, index=item.index, messageId=item.messageId, quarantined=True)
    raise BatchRejected(
        "every event of the batch was refused and quarantined",
        errors=[e.model_dump() for e in result.errors],
        received=result.received,
        quarantined=result.quarantined,
    )


@router.post(
    "/batch",
    response_model=IngestResult,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": BatchIn.model_json_schema()}}}},
    summary="Send many events at once (Segment batch API)",
)
async def batch(request: Request, services: ServicesDep) -> JSON:
    body, payload, principal = await _receive(
        request, services, services.settings.ingest.max_batch_bytes, BatchTooLarge
    )
    try:
        parsed = BatchIn.model_validate(payload)
    except ValidationError as error:
        await _quarantine_request(services, principal.source, "events.invalid_batch", str(error), body)
        raise InvalidBatch("the body must be an object with a 'batch' array of events") from None
    result = await ingestor(services).ingest(
        parsed.batch,
        batch_sent_at=parsed.sentAt,
        batch_context=parsed.context,
        **_options(request, principal.source),
    )
    _status(result)
    return JSON(result.model_dump())


async def _receive(
    request: Request, services: Services, limit: int, too_large: type[InvalidInput]
) -> tuple[bytes, Any, Principal]:
    """Read, decode and parse a body, and authenticate (the key may be in the body)."""
    try:
        provisional = principal_for(request, services).source
    except Forbidden:
        provisional = UNAUTHENTICATED
    body = await _read_body(request, limit, services, provisional, too_large)
    payload = await _parse(body, services, provisional)
    body_key = payload.get("writeKey") if isinstance(payload, dict) else None
    principal = principal_for(request, services, body_key if isinstance(body_key, str) else None)
    return body, payload, principal


def _single(kind: str) -> Any:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        _body, payload, principal = await _receive(
            request, services, services.settings.ingest.max_event_bytes, EventTooLarge
        )
        result = await ingestor(services).ingest(
            [payload], forced_type=kind, **_options(request, principal.source)
        )
        _status(result)
        return JSON(result.model_dump())

    endpoint.__name__ = kind
    return endpoint


for _kind in EVENT_TYPES:
    router.add_api_route(
        f"/{_kind}",
        _single(_kind),
        methods=["POST"],
        response_model=IngestResult,
        summary=f"Send one {_kind} event",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": EventIn.model_json_schema()}}}
        },
    )
