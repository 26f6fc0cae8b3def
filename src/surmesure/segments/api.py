"""HTTP edge of segments (secret key): define, read, list members, recompute."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from surmesure.access.guards import SecretKeyDep
from surmesure.deps import Services, ServicesDep
from surmesure.segments.service import Segments

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["segments"])


def segments(services: Services) -> Segments:
    value: Segments = services.capabilities["segments"]
    return value


@router.put("/segments/{segment_id}", summary="Create or replace a segment, score or persona definition")
def put_segment(
    segment_id: str, services: ServicesDep, _principal: SecretKeyDep, definition: Annotated[Any, Body()]
) -> dict[str, Any]:
    """The body is the definition (``docs/segments.md``): conditions are data, validated,
    never run as code. Members follow from the next events, or at once with ``recompute``."""
    return segments(services).put(segment_id, definition)


@router.get("/segments", summary="Every definition with its size")
def list_segments(services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return {"segments": segments(services).summaries()}


@router.get("/segments/{segment_id}", summary="A definition, its size and its members' revenue")
def get_segment(segment_id: str, services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return segments(services).get(segment_id)


@router.get(
    "/segments/{segment_id}/members", summary="Members of a segment (or profiles with a score or persona)"
)
def segment_members(
    segment_id: str,
    services: ServicesDep,
    _principal: SecretKeyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str, Query(max_length=64, description="Cursor: `next_after` of the previous page.")
    ] = "",
) -> dict[str, Any]:
    return segments(services).members(segment_id, limit=limit, after=after)


@router.post("/segments/{segment_id}/recompute", summary="Evaluate everyone for this definition now")
def recompute_segment(segment_id: str, services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return segments(services).recompute(segment_id)


@router.get("/profiles/{identifier:path}/segments", summary="Segments, scores and personas of a person")
def profile_segments(identifier: str, services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return segments(services).of_profile(identifier)
