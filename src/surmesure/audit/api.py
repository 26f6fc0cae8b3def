"""HTTP edge of audits (secret key):

* ``GET /v1/audit/fairness?placement=|segment=|experiment=`` (``attribute``, ``days``,
  ``format=html`` for the marketer's report);
* ``GET /v1/audit/bubble`` (overall) and ``?person=`` (one person), ``weeks``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from surmesure.access.guards import SecretKeyDep
from surmesure.audit.report import bubble_html, fairness_html
from surmesure.audit.service import Audit
from surmesure.deps import Services, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_Id = Annotated[str | None, Query(min_length=1, max_length=64)]


def audit(services: Services) -> Audit:
    return Audit(services.capabilities["decisions"])


@router.get("/fairness", summary="Who was shown what by protected attribute; disparities and alerts")
async def fairness(
    services: ServicesDep,
    _principal: SecretKeyDep,
    placement: _Id = None,
    segment: _Id = None,
    experiment: _Id = None,
    attribute: Annotated[str | None, Query(max_length=200)] = None,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    format: Annotated[Literal["json", "html"], Query()] = "json",
) -> Any:
    report: dict[str, Any] = await run_in_threadpool(
        audit(services).fairness,
        placement=placement,
        segment=segment,
        experiment=experiment,
        attribute=attribute,
        days=days,
    )
    if format == "html":
        return HTMLResponse(await run_in_threadpool(fairness_html, report))
    return report


@router.get("/bubble", summary="How narrow what was shown has become, by week; people flagged")
async def bubble(
    services: ServicesDep,
    _principal: SecretKeyDep,
    person: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    weeks: Annotated[int | None, Query(ge=1, le=520)] = None,
    format: Annotated[Literal["json", "html"], Query()] = "json",
) -> Any:
    report: dict[str, Any] = await run_in_threadpool(audit(services).bubble, person=person, weeks=weeks)
    if format == "html":
        return HTMLResponse(await run_in_threadpool(bubble_html, report))
    return report
