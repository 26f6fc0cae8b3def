"""What routes receive: the services built in ``create_app`` and the caller's principal.

Routes declare ``services: ServicesDep`` and ``principal: SecretKeyDep`` (or
``WriteKeyDep``); nothing is looked up from globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request

from surmesure.access.domain import KeyKind, Principal, authenticate, key_from_headers
from surmesure.clock import Clock
from surmesure.config import Settings
from surmesure.errors import Unauthenticated, WrongKey

__all__ = [
    "SecretKeyDep",
    "Services",
    "ServicesDep",
    "WriteKeyDep",
    "get_services",
    "principal_for",
]


@dataclass
class Services:
    """Everything a request may need, built once per application."""

    settings: Settings
    engine: sa.Engine
    clock: Clock
    #: each capability's service object, registered by the composition root under the
    #: capability's name; its ``api`` module reads it back with a typed accessor.
    capabilities: dict[str, Any] = field(default_factory=dict)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def principal_for(request: Request, services: Services, body_key: str | None = None) -> Principal:
    key = key_from_headers(request.headers) or body_key
    principal = authenticate(
        key, write_keys=services.settings.write_keys, secret_key=services.settings.secret_key
    )
    if principal is None:
        raise Unauthenticated(
            "a valid key is required: send it as the HTTP Basic user name or a Bearer token"
        )
    return principal


def require_write_key(request: Request, services: ServicesDep) -> Principal:
    """Write or secret key (server-side sources may send events with the secret key)."""
    return principal_for(request, services)


def require_secret_key(request: Request, services: ServicesDep) -> Principal:
    principal = principal_for(request, services)
    if principal.kind is not KeyKind.SECRET:
        raise WrongKey("this endpoint needs the secret key; a write key can only send events")
    return principal


WriteKeyDep = Annotated[Principal, Depends(require_write_key)]
SecretKeyDep = Annotated[Principal, Depends(require_secret_key)]
