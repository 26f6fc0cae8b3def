"""The preference centre's pages, served by the app (no key: a signed link, ADR 0010).

``GET /privacy/preferences?t=…`` shows each purpose in plain words, its state, when
and how it was set, and a form (no JavaScript needed) that ``POST``s the choices back;
``GET /privacy/why?t=…`` lists the latest decisions and recommendations shown to the
person, with their reasons. Jinja2 with autoescape; nothing the person sends is
rendered as a template. A browser sending ``Sec-GPC: 1`` has marketing refused, and
the page says so.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from surmesure.deps import Services, ServicesDep
from surmesure.errors import Forbidden, InvalidInput, NotFound

from .api import preferences
from .service import Person

__all__ = ["router"]

router = APIRouter(tags=["preference centre"], include_in_schema=False)

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's token must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_HOW = {
    "event": "sent by the site",
    "gpc": "your browser's Global Privacy Control signal",
    "api": "recorded by the site's service",
    "preference_centre": "on this page",
    "visitor": "in the site's privacy banner",
    "merge": "when two of your profiles were joined, the stricter choice was kept",
}
_MAX_FORM = 8192


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["how"] = lambda source: _HOW.get(str(source), str(source or "unknown"))
    return env


def _when(iso: Any) -> str:
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).strftime("%d %B %Y at %H:%M UTC")
    except ValueError:
        return str(iso)


def _page(template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(**values)
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _refused(error: Forbidden | NotFound) -> HTMLResponse:
    return _page("error.html", error.http_status, code=error.code, message=error.message, token=None)


def _gpc(request: Request) -> bool:
    return request.headers.get("sec-gpc") == "1"


def _show(services: Services, person: Person, token: str, gpc: bool, saved: bool) -> HTMLResponse:
    service = preferences(services)
    view = service.consent(person)
    marketing = next((p for p in view["purposes"] if p["purpose"] == "marketing"), None)
    if gpc and marketing is not None and (marketing["allowed"] or marketing["source"] != "gpc"):
        # the signal is a choice: record it, so the profile and every send honour it
        view = service.record(person, {"marketing": False}, source="preference_centre",
                              key_source="preference_centre", gpc=True)  # fmt: skip
    return _page("preferences.html", purposes=view["purposes"], token=token, gpc=gpc, saved=saved,
                 page="preferences")  # fmt: skip


@router.get("/privacy/preferences")
def preference_centre(request: Request, services: ServicesDep, t: str = "", saved: int = 0) -> Response:
    try:
        person = preferences(services).from_link(t)
        return _show(services, person, t, _gpc(request), bool(saved))
    except (Forbidden, NotFound) as error:
        return _refused(error)


@router.post("/privacy/preferences")
async def save_preferences(request: Request, services: ServicesDep) -> Response:
    raw = await request.body()
    if len(raw) > _MAX_FORM:
        raise InvalidInput("the form is too large")
    form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), max_num_fields=64).items()}
    token = form.pop("t", "")
    service = preferences(services)
    try:
        person = await run_in_threadpool(service.from_link, token)
    except (Forbidden, NotFound) as error:
        return _refused(error)
    known = service.settings.consent.bases()
    choices = {
        name: value == "yes" for name, value in form.items() if name in known and value in ("yes", "no")
    }
    if choices:
        await run_in_threadpool(
            lambda: service.record(
                person, choices, source="preference_centre", key_source="preference_centre", gpc=_gpc(request)
            )
        )
    return RedirectResponse(
        f"/privacy/preferences?t={quote(token)}&saved=1", status_code=303, headers=_HEADERS
    )


@router.get("/privacy/why")
def why_page(services: ServicesDep, t: str = "") -> Response:
    service = preferences(services)
    try:
        why = service.why(service.from_link(t))
    except (Forbidden, NotFound) as error:
        return _refused(error)
    return _page("why.html", why=why, token=t, page="why")
