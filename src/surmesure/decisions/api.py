"""HTTP edge of decisions.

* ``POST /v1/decide`` — the secret key for anyone by any identifier; a write key (the
  browser's) only for its own visitor by ``anonymous_id``, or for no one (as
  ``/v1/recommendations``): any other identifier is ``access.wrong_key_kind``.
* ``PUT /v1/placements/{id}``, ``PUT /v1/experiments/{id}``, ``PUT /v1/definitions``
  (the document of ``surmesure apply``), ``GET /v1/experiments/{id}/results`` — secret key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from surmesure.access.domain import KeyKind, Principal
from surmesure.access.guards import SecretKeyDep, principal_for
from surmesure.decisions.apply import apply, check_targeting
from surmesure.decisions.service import Decisions
from surmesure.deps import Services, ServicesDep
from surmesure.errors import InvalidInput, WrongKey
from surmesure.recommendations.service import Who

__all__ = ["DecideBody", "router"]

router = APIRouter(prefix="/v1", tags=["decisions"])

_Id = Annotated[str, Field(min_length=1, max_length=255)]


class InvalidDecideRequest(InvalidInput):
    code = "decisions.invalid_request"


class DecideBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    placement: str = Field(min_length=1, max_length=64)
    user_id: _Id | None = None
    anonymous_id: _Id | None = None
    email: _Id | None = None
    profile_id: _Id | None = None
    id: _Id | None = Field(default=None, description="Any identifier (surmesure finds which).")
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="The page: item_id, item_ids, consent ({categoryPreferences: {personalization}}), ...",
    )


def decisions(services: Services) -> Decisions:
    value: Decisions = services.capabilities["decisions"]
    return value


async def _key(request: Request, services: ServicesDep) -> Principal:
    return principal_for(request, services)


def _who(body: DecideBody, kind: KeyKind) -> Who | None:
    given = [(t, getattr(body, t)) for t in ("profile_id", "user_id", "anonymous_id", "email", "id")]
    named = [(t, v) for t, v in given if v is not None]
    if len(named) > 1:
        raise InvalidDecideRequest(
            "name the person by one identifier only", identifiers=[t for t, _ in named]
        )
    if not named:
        return None
    id_type, value = named[0]
    if kind is not KeyKind.SECRET and id_type != "anonymous_id":
        raise WrongKey(
            "a write key may decide only for its own visitor, by anonymous_id; decide by "
            f"{id_type} from your server, with the secret key"
        )
    return Who(value, None if id_type == "id" else id_type)


@router.post("/decide", summary="What a placement shows to a person, and why")
async def decide(
    body: DecideBody, services: ServicesDep, principal: Annotated[Principal, Depends(_key)]
) -> Any:
    if len(repr(body.context)) > 16_384:
        raise InvalidDecideRequest("context is larger than 16 KiB")
    who = _who(body, principal.kind)
    return await run_in_threadpool(decisions(services).decide, body.placement, who, body.context)


@router.put("/placements/{placement_id}", summary="Create or replace a placement")
def put_placement(
    placement_id: str, services: ServicesDep, _principal: SecretKeyDep, definition: Annotated[Any, Body()]
) -> dict[str, Any]:
    check_targeting(decisions(services), placement_id, definition)
    return decisions(services).put_placement(placement_id, definition)


@router.get("/placements/{placement_id}", summary="A placement's definition")
def get_placement(placement_id: str, services: ServicesDep, _principal: SecretKeyDep) -> dict[str, Any]:
    return decisions(services).get_placement(placement_id)


@router.put("/experiments/{experiment_id}", summary="Create or replace an experiment on a placement")
def put_experiment(
    experiment_id: str, services: ServicesDep, _principal: SecretKeyDep, definition: Annotated[Any, Body()]
) -> dict[str, Any]:
    return decisions(services).put_experiment(experiment_id, definition)


@router.get("/experiments/{experiment_id}/results", summary="CTR, conversion, revenue per visitor per arm")
def experiment_results(
    experiment_id: str,
    services: ServicesDep,
    _principal: SecretKeyDep,
    tau2: Annotated[
        float, Query(gt=0, le=1, description="mSPRT mixing variance (about the squared effect sought).")
    ] = 0.0025,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> dict[str, Any]:
    return decisions(services).results(experiment_id, tau2=tau2, alpha=alpha)


@router.put("/definitions", summary="Apply segments, placements and experiments (as `surmesure apply`)")
def put_definitions(
    services: ServicesDep, _principal: SecretKeyDep, document: Annotated[Any, Body()]
) -> dict[str, Any]:
    return apply(decisions(services), document)
