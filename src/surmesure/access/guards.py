"""FastAPI dependencies that authenticate a request: ``WriteKeyDep``, ``SecretKeyDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from surmesure.access.domain import KeyKind, Principal, authenticate, key_from_headers
from surmesure.deps import Services, ServicesDep
from surmesure.errors import Unauthenticated, WrongKey

__all__ = ["SecretKeyDep", "WriteKeyDep", "principal_for", "require_secret_key", "require_write_key"]


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
