"""Liveness and readiness, and the empty endpoint benchmarks compare against."""

from __future__ import annotations

from fastapi import APIRouter

from surmesure.deps import ServicesDep
from surmesure.http import JSON

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Readiness: the writer runs and the pipeline keeps up")
async def readyz(services: ServicesDep) -> JSON:
    writer = services.capabilities["writer"]
    return JSON({"status": "ok", "pipeline_backlog": writer.backlog})
