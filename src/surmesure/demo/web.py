"""The demo storefront: server-rendered pages whose JavaScript sends events through the
tracker (``/static/surmesure.js``), and ``/demo/profile``, a chosen visitor's unified
profile. Mounted by ``create_app`` only in demo mode."""

from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from surmesure.config import DEMO_WRITE_KEY
from surmesure.demo import _queries
from surmesure.demo import experiment as _live
from surmesure.deps import Services, ServicesDep

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "router"]

router = APIRouter(tags=["demo"], include_in_schema=False)

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"
_STATIC_FILES = {
    "surmesure.js": "text/javascript; charset=utf-8",
    "shop.js": "text/javascript; charset=utf-8",
    "shop.css": "text/css; charset=utf-8",
}
_PER_PAGE = 24
_PER_ROOT_ON_HOME = 5
_VISITOR_COOKIE = "surmesure.anonymousId"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    return env


def _money(value: Any, currency: str = "EUR") -> str:
    if not isinstance(value, int | float):
        return ""
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{value:,.2f}"


def _render(
    request: Request,
    services: Services,
    template: str,
    *,
    page: dict[str, Any],
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page; ``page`` is what its script sends: ``{"name", "properties", "track": [...]}``."""
    with services.engine.connect() as conn:
        tree = _queries.category_tree(conn)
    data = {"writeKey": DEMO_WRITE_KEY, "page": page}
    html = (
        _environment()
        .get_template(template)
        .render(request=request, tree=tree, page_data=data, path=request.url.path, **values)
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/")
def home(request: Request, services: ServicesDep) -> HTMLResponse:
    with services.engine.connect() as conn:
        tree = _queries.category_tree(conn)
        shelves = [(root, _queries.by_category(conn, root, limit=_PER_ROOT_ON_HOME)[0]) for root in tree]
    visitor = _visitor(request)
    banner = _live.banner(services, visitor)
    page: dict[str, Any] = {"name": "Home", "properties": {}}
    if banner is not None:
        page["placement"] = {k: banner[k] for k in ("decision_id", "placement", "variant", "arm")}
    response = _render(request, services, "home.html", page=page, shelves=shelves, banner=banner)
    if request.cookies.get(_VISITOR_COOKIE) != visitor:
        # the tracker adopts this anonymousId when its localStorage holds none yet
        response.set_cookie(_VISITOR_COOKIE, visitor, max_age=31_536_000, samesite="lax")
    return response


def _visitor(request: Request) -> str:
    """The browser's anonymousId (shop.js mirrors the tracker's into a cookie), else a new one."""
    value = request.cookies.get(_VISITOR_COOKIE, "").strip()
    return value[:255] if value else str(uuid.uuid4())


@router.get("/demo/preferences")
def preference_centre(request: Request, services: ServicesDep, why: int = 0) -> Response:
    """The visitor's preference centre: a signed link made here, on the server, for the
    browser's own anonymous id (a deployment does the same with the secret key)."""
    from surmesure.preferences.service import Person, Preferences

    centre: Preferences = services.capabilities["preferences"]
    visitor = _visitor(request)
    with services.engine.connect() as conn:
        pid = services.capabilities["profiles"].resolve_id(conn, visitor, "anonymous_id")
    link = centre.link(Person("anonymous_id", visitor, pid))
    response = RedirectResponse(link["why_url" if why else "url"], status_code=303)
    if request.cookies.get(_VISITOR_COOKIE) != visitor:
        response.set_cookie(_VISITOR_COOKIE, visitor, max_age=31_536_000, samesite="lax")
    return response


@router.get("/demo/experiment")
def experiment(request: Request, services: ServicesDep) -> HTMLResponse:
    return _render(
        request, services, "experiment.html", page={"name": "Experiment results", "properties": {}},
        results=_live.results(services), placement=_live.PLACEMENT, experiment_id=_live.EXPERIMENT,
    )  # fmt: skip


@router.get("/category/{name}")
def category(request: Request, services: ServicesDep, name: str, page: int = 1) -> HTMLResponse:
    page = max(1, page)
    with services.engine.connect() as conn:
        products, total = _queries.by_category(conn, name, limit=_PER_PAGE, offset=(page - 1) * _PER_PAGE)
    if not total:
        return _not_found(request, services, f"No category called “{name}”.")
    pages = (total + _PER_PAGE - 1) // _PER_PAGE
    event = {"name": name, "properties": {"category": name}}
    return _render(
        request, services, "category.html", page=event, name=name, products=products,
        total=total, page_number=page, pages=pages,
    )  # fmt: skip


@router.get("/product/{item_id}")
def product(request: Request, services: ServicesDep, item_id: str) -> HTMLResponse:
    with services.engine.connect() as conn:
        found = _queries.get_product(conn, item_id)
        related = _queries.by_category(conn, found.category, limit=4, exclude=found.id)[0] if found else []
    if found is None:
        return _not_found(request, services, "This product does not exist (any more).")
    event = {
        "name": found.title,
        "properties": {"category": found.category},
        "track": [{"event": "Product Viewed", "properties": found.properties()}],
        "product": found.properties(quantity=1) | {"image_url": found.image, "url": found.url},
    }
    return _render(request, services, "product.html", page=event, product=found, related=related)


@router.get("/cart")
def cart(request: Request, services: ServicesDep) -> HTMLResponse:
    return _render(request, services, "cart.html", page={"name": "Cart", "properties": {}})


@router.get("/login")
def login(request: Request, services: ServicesDep) -> HTMLResponse:
    return _render(request, services, "login.html", page={"name": "Login", "properties": {}})


@router.get("/demo/profile")
def profile(request: Request, services: ServicesDep, id: str = "") -> HTMLResponse:
    identifier = id.strip()[:300]
    profiles = services.capabilities.get("profiles")
    view: dict[str, Any] | None = None
    last_events: list[dict[str, str]] = []
    if profiles is not None and identifier:
        view = profiles.get(identifier)
        if view is not None:
            last_events = [_queries.summarize_event(body) for body in _events_of(profiles, identifier)]
    with services.engine.connect() as conn:
        visitors = _queries.recent_visitors(conn)
    return _render(
        request, services, "profile.html", page={"name": "Profile viewer", "properties": {}},
        identifier=identifier, available=profiles is not None, profile=view, last_events=last_events,
        visitors=visitors, affinity_max=_affinity_max(view),
    )  # fmt: skip


def _events_of(profiles: Any, identifier: str) -> list[dict[str, Any]]:
    """Newest events first; the service answers a list or ``(list, next_cursor)``."""
    result = profiles.events(identifier, limit=30)
    bodies = result[0] if isinstance(result, tuple) else result
    return [body for body in bodies if isinstance(body, dict)]


def _affinity_max(view: dict[str, Any] | None) -> dict[str, float]:
    features = (view or {}).get("features") or {}
    out: dict[str, float] = {}
    for key in ("category_affinity", "brand_affinity"):
        scores = [float(entry.get("score") or 0.0) for entry in features.get(key) or []]
        out[key] = max(scores, default=0.0) or 1.0
    return out


def _not_found(request: Request, services: Services, message: str) -> HTMLResponse:
    return _render(
        request, services, "not_found.html", page={"name": "Not found", "properties": {}},
        status_code=404, message=message,
    )  # fmt: skip


@router.get("/static/img/{item_id}.svg")
def image(services: ServicesDep, item_id: str) -> Response:
    with services.engine.connect() as conn:
        found = _queries.get_product(conn, item_id)
    return Response(
        _queries.item_svg(found, item_id),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/static/{name}")
def static(request: Request, services: ServicesDep, name: str) -> Response:
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return _not_found(request, services, "No such file.")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "no-cache"})
