"""HTTP edge of privacy (secret key): a person's portable export and their erasure."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from surmesure.access.guards import SecretKeyDep
from surmesure.deps import Services, ServicesDep
from surmesure.privacy.service import Privacy

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["privacy"])

IdType = Literal["profile_id", "user_id", "anonymous_id", "email", "crm_id", "device_id"]
TypeQuery = Annotated[IdType | None, Query(description="Say which kind of identifier this is.")]


def privacy(services: Services) -> Privacy:
    value: Privacy = services.capabilities["privacy"]
    return value


@router.get(
    "/profiles/{identifier:path}/export", summary="Everything stored about a person (GDPR art. 15, 20)"
)
def export_person(
    identifier: str, services: ServicesDep, _principal: SecretKeyDep, type: TypeQuery = None
) -> dict[str, Any]:
    """One portable JSON: the profile as read, then every table's rows that name the
    person (events, quarantined items, identifiers, merges, segments, decisions...)."""
    return privacy(services).export(identifier, type)


@router.delete("/profiles/{identifier:path}", summary="Erase a person everywhere (GDPR art. 17)")
async def erase_person(
    identifier: str, services: ServicesDep, _principal: SecretKeyDep, type: TypeQuery = None
) -> dict[str, Any]:
    """Delete the person from every table, keep keyed hashes of their identifiers so
    that replayed events are refused, drop them from caches, and retrain the model
    without them when it may have learned from them."""
    return await run_in_threadpool(privacy(services).erase, identifier, type)
