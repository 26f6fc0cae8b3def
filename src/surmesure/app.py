"""The composition root of the HTTP server: ``create_app(settings)``.

Builds the engine, the writer and every capability's service once, registers the
routers, and maps :class:`~surmesure.errors.SurmesureError` to HTTP in one table.
Nothing happens at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from surmesure import db
from surmesure.clock import Clock, SystemClock
from surmesure.config import Settings
from surmesure.deps import Services
from surmesure.errors import (
    InvalidInput,
    MethodNotAllowed,
    RouteNotFound,
    SurmesureError,
    Unavailable,
    ValidationFailed,
)
from surmesure.http import JSON

__all__ = ["create_app", "error_response"]

log = logging.getLogger(__name__)


def error_response(error: SurmesureError) -> JSON:
    headers = {}
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(error.retry_after)
    return JSON(error.to_body(), status_code=error.http_status, headers=headers)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Engine, migrations, writer and capability services: shared by server and CLI."""
    from surmesure.pipeline import build_capabilities

    engine = db.create_engine(
        settings.store_url,
        sqlite_synchronous=settings.store.sqlite_synchronous,
        pool_size=settings.store.pool_size,
    )
    db.upgrade(engine)
    services = Services(settings=settings, engine=engine, clock=clock or SystemClock())
    build_capabilities(services)
    return services


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.check_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, clock)
        app.state.services = services
        services.capabilities["writer"].start()
        services.capabilities["pipeline"].start()
        services.capabilities["recommendations"].start()
        services.capabilities["privacy"].start()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="surmesure",
        version=_version(),
        summary="Self-hosted personalization: collect, unify, decide.",
        lifespan=lifespan,
        default_response_class=JSON,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["authorization", "content-type", "x-write-key"],
    )
    _install_error_handlers(app)
    _include_routers(app, settings)
    return app


def _include_routers(app: FastAPI, settings: Settings) -> None:
    from surmesure.audit.api import router as audit_router
    from surmesure.catalog.api import router as catalog_router
    from surmesure.decisions.api import router as decisions_router
    from surmesure.events.api import router as events_router
    from surmesure.health import router as health_router
    from surmesure.preferences.api import router as preferences_router
    from surmesure.preferences.web import router as preference_pages
    from surmesure.privacy.api import router as privacy_router
    from surmesure.profiles.api import router as profiles_router
    from surmesure.recommendations.api import router as recommendations_router
    from surmesure.segments.api import router as segments_router

    app.include_router(health_router)
    app.include_router(events_router)
    # the per-visit routes first: FastAPI tries the routes in order (about 2 µs each)
    app.include_router(recommendations_router)
    app.include_router(decisions_router)
    app.include_router(segments_router)  # before profiles: /v1/profiles/{id}/segments
    app.include_router(privacy_router)  # before profiles: /v1/profiles/{id}/export
    app.include_router(preferences_router)  # before profiles: /v1/profiles/{id}/consent, /why
    app.include_router(preference_pages)  # the preference centre: /privacy/preferences, /privacy/why
    app.include_router(profiles_router)
    app.include_router(catalog_router)
    app.include_router(audit_router)
    if settings.demo:
        from surmesure.demo.web import router as demo_router

        app.include_router(demo_router)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SurmesureError)
    async def _surmesure(_request: Request, error: SurmesureError) -> JSON:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSON:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in error.errors()
        ]
        first = problems[0] if problems else {"loc": [], "message": "invalid request"}
        where = ".".join(first["loc"]) or "request"
        return error_response(ValidationFailed(f"{where}: {first['message']}", problems=problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSON:
        mapped: SurmesureError
        if error.status_code == 404:
            mapped = RouteNotFound("no such route")
        elif error.status_code == 405:
            mapped = MethodNotAllowed("method not allowed on this route")
        else:
            mapped = InvalidInput(str(error.detail))
            mapped.http_status = error.status_code  # type: ignore[misc]
        return error_response(mapped)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSON:
        log.exception("unexpected error", exc_info=error)
        body: dict[str, Any] = {
            "error": {"code": "internal.error", "message": "an unexpected error occurred", "details": {}}
        }
        return JSON(body, status_code=500)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("surmesure")
    except PackageNotFoundError:
        return "0.0.0"
