"""HTTP edge of profiles: read by any identifier, list events, undo a merge (secret key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from surmesure.access.guards import SecretKeyDep
from surmesure.deps import Services, ServicesDep
from surmesure.profiles.service import ProfileService

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["profiles"])

IdType = Literal["profile_id", "user_id", "anonymous_id", "email", "crm_id", "device_id"]


def profiles(services: Services) -> ProfileService:
    value: ProfileService = services.capabilities["profiles"]
    return value


@router.get("/profiles/{identifier:path}/events", summary="Events attributed to a person, newest first")
def profile_events(
    identifier: str,
    services: ServicesDep,
    _principal: SecretKeyDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, description="Cursor: `next_before` of the previous page.")
    ] = None,
    type: Annotated[IdType | None, Query(description="Say which kind of identifier this is.")] = None,
) -> dict[str, Any]:
    events, next_before = profiles(services).events(identifier, limit=limit, before=before, id_type=type)
    return {"events": events, "next_before": next_before}


@router.get("/profiles/{identifier:path}", summary="A unified profile by any identifier")
def get_profile(
    identifier: str,
    services: ServicesDep,
    _principal: SecretKeyDep,
    type: Annotated[IdType | None, Query(description="Say which kind of identifier this is.")] = None,
) -> dict[str, Any]:
    """Look up by profile id, user id, anonymous id, email, or an external id
    (``crm_id:123`` names the type explicitly)."""
    return profiles(services).require(identifier, type)


@router.post("/merges/{merge_id}/undo", summary="Undo a merge: re-attribute the absorbed history")
def undo_merge(merge_id: str, services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return profiles(services).unmerge(merge_id)
