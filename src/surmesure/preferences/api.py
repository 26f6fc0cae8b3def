"""HTTP edge of the preference centre's API.

Secret key (server side), anyone by any identifier:
``GET``/``PUT /v1/profiles/{id}/consent``, ``GET /v1/profiles/{id}/why``,
``POST /v1/profiles/{id}/preference-link``.

Write key (the person's own browser), only by ``anonymous_id`` — the visitor's own,
which only their browser knows, as for ``/v1/recommendations``: ``GET``/``PUT
/v1/consent``. A signed link (``?t=``, no key): ``GET /v1/preferences/why``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from surmesure.access.domain import KeyKind
from surmesure.access.guards import SecretKeyDep, WriteKeyDep
from surmesure.deps import Services, ServicesDep
from surmesure.errors import WrongKey

from .service import Preferences

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["preferences"])

IdType = Literal["profile_id", "user_id", "anonymous_id", "email", "crm_id", "device_id"]
TypeQuery = Annotated[IdType | None, Query(description="Say which kind of identifier this is.")]
_Id = Annotated[str, Field(min_length=1, max_length=255)]
_Purposes = Annotated[dict[Annotated[str, Field(max_length=40)], bool], Field(max_length=40)]


def preferences(services: Services) -> Preferences:
    value: Preferences = services.capabilities["preferences"]
    return value


class ConsentUpdate(BaseModel):
    """``PUT /v1/profiles/{id}/consent``: the choices to record, per purpose."""

    model_config = ConfigDict(extra="forbid")
    purposes: _Purposes = Field(description='e.g. {"personalization": false, "marketing": false}')


class VisitorConsentUpdate(ConsentUpdate):
    """``PUT /v1/consent``: a visitor's own choices, by their anonymous id."""

    anonymous_id: _Id
    user_id: _Id | None = Field(default=None, description="Secret key only.")


def _gpc(request: Request) -> bool:
    return request.headers.get("sec-gpc") == "1"


@router.get("/profiles/{identifier:path}/consent", summary="A person's consent per purpose, with its record")
def get_consent(
    identifier: str, services: ServicesDep, _principal: SecretKeyDep, type: TypeQuery = None
) -> dict[str, Any]:
    """Per purpose: allowed now, the latest choice (or null), when, how (source) and the
    legal basis; purposes nobody chose follow their default."""
    service = preferences(services)
    return service.consent(service.person(identifier, type))


@router.put("/profiles/{identifier:path}/consent", summary="Record a person's choices (server side)")
def put_consent(
    identifier: str,
    body: ConsentUpdate,
    request: Request,
    services: ServicesDep,
    _principal: SecretKeyDep,
    type: TypeQuery = None,
) -> dict[str, Any]:
    """Recorded as an event through ingestion (source ``api``); the profile holds it
    within a second, recommendations and decisions follow it at once."""
    service = preferences(services)
    person = service.person(identifier, type)
    return service.record(person, body.purposes, source="api", key_source="secret", gpc=_gpc(request))


@router.get("/consent", summary="The visitor's own consent (write key, by anonymous_id)")
def get_visitor_consent(
    services: ServicesDep,
    _principal: WriteKeyDep,
    anonymous_id: Annotated[str, Query(min_length=1, max_length=255)],
) -> dict[str, Any]:
    service = preferences(services)
    view = service.consent(service.person(anonymous_id, "anonymous_id", must_exist=False))
    view.pop("profile_id", None)  # the browser has no use for it
    return view


@router.put("/consent", summary="Record the visitor's own choices (write key, by anonymous_id)")
def put_visitor_consent(
    body: VisitorConsentUpdate, request: Request, services: ServicesDep, principal: WriteKeyDep
) -> dict[str, Any]:
    if body.user_id is not None and principal.kind is not KeyKind.SECRET:
        raise WrongKey(
            "a write key may record choices only for its own visitor, by anonymous_id; "
            "use PUT /v1/profiles/{id}/consent from your server, with the secret key"
        )
    service = preferences(services)
    if body.user_id is not None:
        person = service.person(body.user_id, "user_id", must_exist=False)
    else:
        person = service.person(body.anonymous_id, "anonymous_id", must_exist=False)
    view = service.record(
        person, body.purposes, source="visitor", key_source=principal.source, gpc=_gpc(request)
    )
    view.pop("profile_id", None)
    return view


@router.get(
    "/profiles/{identifier:path}/why", summary="Why am I seeing this: the latest decisions, explained"
)
def get_why(
    identifier: str,
    services: ServicesDep,
    _principal: SecretKeyDep,
    type: TypeQuery = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> dict[str, Any]:
    """The person's latest decisions and recommendation answers, each with its reason
    in plain words, the data behind it (their events, segments, experiment arm) and
    whether personalization was used."""
    service = preferences(services)
    return service.why(service.person(identifier, type), limit)


@router.post("/profiles/{identifier:path}/preference-link", summary="A signed link to the preference centre")
def post_link(
    identifier: str, request: Request, services: ServicesDep, _principal: SecretKeyDep, type: TypeQuery = None
) -> dict[str, Any]:
    """``url`` opens the person's preference centre, ``why_url`` their "why am I seeing
    this"; both expire after ``preferences.link_ttl_hours``. Send them to the person."""
    service = preferences(services)
    base = str(request.base_url).rstrip("/")
    return service.link(service.person(identifier, type, must_exist=type != "anonymous_id"), base)


@router.get("/preferences/why", summary="Why am I seeing this, for the holder of a signed link")
def get_why_by_link(
    services: ServicesDep,
    t: Annotated[str, Query(min_length=1, max_length=1024, description="The signed link's token.")],
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> dict[str, Any]:
    service = preferences(services)
    answer = service.why(service.from_link(t), limit)
    answer.pop("profile_id", None)
    return answer
