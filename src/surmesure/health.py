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


@router.get("/readyz", summary="Readiness: the writer and the pipeline worker run; how far behind")
async def readyz(services: ServicesDep) -> JSON:
    pipeline = services.capabilities["pipeline"]
    alive = pipeline.alive
    body = {
        "status": "ok" if alive else "degraded",
        "pipeline": "running" if alive else "stopped",
        "pipeline_backlog": pipeline.backlog(),
        "writer": services.capabilities["writer"].stats.as_dict(),
    }
    return JSON(body, status_code=200 if alive else 503)
