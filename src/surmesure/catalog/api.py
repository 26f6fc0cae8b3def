"""HTTP edge of the catalogue (secret key): ``PUT /v1/items``, ``GET /v1/items``,
``GET /v1/items/{id}``.

The upsert body is read raw with a byte cap and parsed with orjson, so that each bad
item can be reported by index (FastAPI's body validation stops at the wire shape);
its OpenAPI schema is still declared. Errors are raised by the service and rendered
by the application's handler.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from surmesure.access.guards import SecretKeyDep
from surmesure.catalog import service
from surmesure.catalog.domain import MAX_ITEMS_PER_REQUEST, ItemIn, ItemPublic, ItemType
from surmesure.catalog.errors import ItemsBodyTooLarge
from surmesure.clock import utc_ms
from surmesure.deps import ServicesDep
from surmesure.errors import MalformedJson, UnsupportedMediaType
from surmesure.http import JSON

__all__ = ["MAX_BODY_BYTES", "router"]

router = APIRouter(prefix="/v1", tags=["catalogue"])

#: 1000 items of ordinary size fit well below this
MAX_BODY_BYTES = 32 * 1024 * 1024
_ACCEPTED_TYPES = ("application/json", "")


class UpsertOut(BaseModel):
    created: int
    updated: int


class ItemPageOut(BaseModel):
    items: list[ItemPublic]
    next_after: str | None


_ITEM_SCHEMA = ItemIn.model_json_schema()
_ITEMS_SCHEMA = {"type": "array", "items": _ITEM_SCHEMA, "maxItems": MAX_ITEMS_PER_REQUEST}
_BODY_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"items": _ITEMS_SCHEMA},
            "required": ["items"],
            "additionalProperties": False,
        },
        _ITEMS_SCHEMA,
    ]
}


async def _read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"send JSON (application/json), not {content_type!r}")
    declared = request.headers.get("content-length", "")
    too_large = ItemsBodyTooLarge(
        f"the request body exceeds {MAX_BODY_BYTES} bytes; send fewer items per request",
        limit=MAX_BODY_BYTES,
    )
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from None


@router.put(
    "/items",
    response_model=UpsertOut,
    summary="Create or replace up to 1000 items (all or nothing)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
    responses={
        413: {"description": "More than 1000 items (catalog.too_many_items)"},
        422: {"description": "Some items are invalid (catalog.invalid_item); nothing was saved"},
    },
)
async def put_items(request: Request, services: ServicesDep, _principal: SecretKeyDep) -> JSON:
    payload = await _read_json(request)

    def run() -> service.UpsertResult:
        items = service.parse_items(payload)
        return service.upsert_items(services.engine, items, utc_ms(services.clock.now()))

    # validation and SQL are blocking: off the event loop
    result = await run_in_threadpool(run)
    return JSON({"created": result.created, "updated": result.updated})


@router.get("/items", response_model=ItemPageOut, summary="List items by id, with filters")
def get_items(
    services: ServicesDep,
    _principal: SecretKeyDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=255, description="next_after of the previous page")] = None,
    type: Annotated[ItemType | None, Query()] = None,
    category: Annotated[
        str | None, Query(max_length=2000, description='A category path prefix: "Home > Kitchen".')
    ] = None,
    available: Annotated[bool | None, Query(description="true: available only; false: unavailable")] = None,
) -> JSON:
    page = service.list_items(
        services.engine,
        limit=limit,
        after=after,
        type=type,
        category=category or None,
        available=available,
    )
    return JSON({"items": [item.model_dump() for item in page.items], "next_after": page.next_after})


@router.get("/items/{item_id:path}", response_model=ItemPublic, summary="One item")
def get_item(item_id: str, services: ServicesDep, _principal: SecretKeyDep) -> JSON:
    return JSON(service.get_item(services.engine, item_id).model_dump())
