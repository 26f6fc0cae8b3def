"""What routes receive: the services built in ``create_app``.

Routes declare ``services: ServicesDep``; the caller's principal comes from
``surmesure.access.guards`` (``SecretKeyDep``, ``WriteKeyDep``). Nothing is looked up
from globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request

from surmesure.clock import Clock
from surmesure.config import Settings

__all__ = ["Services", "ServicesDep", "get_services"]


@dataclass
class Services:
    """Everything a request may need, built once per application."""

    settings: Settings
    engine: sa.Engine
    clock: Clock
    #: each capability's service object, registered by the composition root under the
    #: capability's name; its ``api`` module reads it back with a typed accessor.
    capabilities: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Stop every capability that runs something (last started, first stopped), then
        close the store's connections."""
        for service in reversed(list(self.capabilities.values())):
            stop = getattr(service, "stop", None)
            if callable(stop):
                stop()
        self.engine.dispose()


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain-function dependency in a worker thread
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
