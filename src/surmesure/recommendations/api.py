"""HTTP edge of recommendations: ``GET /v1/recommendations`` (query parameters) and
``POST /v1/recommendations`` (the same fields as a JSON body).

The secret key may ask for anyone, by any identifier. A public write key (the one in
the browser) may ask only by ``anonymous_id`` — the visitor's own, which only their
browser knows — or for no one; any other identifier is refused with
``access.wrong_key_kind``. The routes parse and authenticate on the event loop (a few
microseconds) and hand the store read and the scoring to two threads of their own in
one hop, so they never block the loop; the answer is serialized by orjson as it is (no
response model to validate it again).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from surmesure.access.domain import KeyKind, Principal
from surmesure.access.guards import principal_for
from surmesure.deps import Services, ServicesDep
from surmesure.errors import WrongKey
from surmesure.http import JSON

from .errors import InvalidRequest
from .rerank import Rules
from .service import Recommendations, Who
from .serving import Algorithm
from .serving import Query as Asked

__all__ = ["RecommendationBody", "RecommendationParams", "router"]

router = APIRouter(prefix="/v1", tags=["recommendations"])

_Id = Annotated[str, Field(min_length=1, max_length=255)]
_Names = Annotated[list[_Id], Field(max_length=100)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: _Id | None = None
    anonymous_id: _Id | None = None
    email: _Id | None = None
    profile_id: _Id | None = None
    id: _Id | None = Field(default=None, description="Any identifier (surmesure finds which).")
    context: Literal["home", "item", "cart", "email"] = "home"
    algorithm: Algorithm = Field(
        default="hybrid", description="What ranks: the default model, or one of its parts alone."
    )
    k: int = Field(default=10, ge=1, le=100)
    item_id: _Id | None = Field(default=None, description="context=item: the item of the page.")
    item_ids: _Names = Field(default_factory=list, description="context=cart: the cart's items.")
    relation: Literal["similar", "complementary"] = Field(
        default="similar", description="context=item: similar items, or bought together."
    )
    categories: _Names = Field(default_factory=list, description="Only items in one of these categories.")
    exclude_categories: _Names = Field(default_factory=list)
    labels_all: _Names = Field(default_factory=list, description="Only items with every one of these labels.")
    labels_any: _Names = Field(default_factory=list, description="Only items with one of these labels.")
    labels_none: _Names = Field(default_factory=list)
    price_min: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    price_max: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    in_stock: bool = Field(default=True, description="Only available items.")
    exclude_seen: bool = Field(default=False, description="Leave out items the person viewed or carted.")
    exclude_seen_days: float | None = Field(default=None, gt=0, description="... within this many days.")
    exclude_bought: bool = Field(
        default=True, description="Leave out items bought (replenishable ones excepted)."
    )
    exclude_bought_days: float | None = Field(default=None, gt=0, description="... within this many days.")
    one_per_variant: bool = Field(default=True, description="No two variants of one product.")
    diversity: float = Field(default=0.0, ge=0, le=1, description="MMR: 0 relevance only, 1 diversity only.")
    max_per_category: int | None = Field(default=None, ge=1)
    exploration: float = Field(default=0.0, ge=0, le=0.5, description="Share of slots for novel items.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class RecommendationBody(_Fields):
    """``POST /v1/recommendations``."""

    boost: dict[_Id, Annotated[float, Field(gt=0, le=1000)]] = Field(
        default_factory=dict, max_length=100, description="item id → factor (above 2 lifts it to the top)."
    )
    pin: dict[_Id, Annotated[int, Field(ge=0, le=99)]] = Field(
        default_factory=dict, max_length=20, description="item id → position (0-based)."
    )


class RecommendationParams(_Fields):
    """``GET /v1/recommendations``: lists repeat the parameter (``categories=A&categories=B``)."""

    boost: _Names = Field(default_factory=list, description="`item_id:factor`, repeated.")
    pin: _Names = Field(default_factory=list, description="`item_id:position`, repeated.")


def _pairs(values: list[str], name: str, cast: type[float] | type[int], high: float) -> dict[str, Any]:
    """``item_id:number`` strings → a dict (the bounds of the JSON body's ``boost``/``pin``)."""
    out: dict[str, Any] = {}
    for value in values:
        item, _, number = value.rpartition(":")
        try:
            parsed = cast(number)
        except ValueError:
            parsed = None
        low_ok = parsed is not None and (parsed > 0 if cast is float else parsed >= 0)
        if not item or parsed is None or not low_ok or parsed > high or parsed != parsed:
            what = "factor in (0, 1000]" if cast is float else "position in 0..99"
            raise InvalidRequest(f"{name} takes item_id:{what}, not {value!r}", parameter=name, value=value)
        out[item] = parsed
    return out


def _who(fields: _Fields, kind: KeyKind) -> Who | None:
    given = [(t, getattr(fields, t)) for t in ("profile_id", "user_id", "anonymous_id", "email", "id")]
    named = [(t, v) for t, v in given if v is not None]
    if len(named) > 1:
        raise InvalidRequest("name the person by one identifier only", identifiers=[t for t, _ in named])
    if not named:
        return None
    id_type, value = named[0]
    if kind is not KeyKind.SECRET and id_type != "anonymous_id":
        raise WrongKey(
            "a write key may ask only for its own visitor, by anonymous_id; ask by "
            f"{id_type} from your server, with the secret key"
        )
    return Who(value, None if id_type == "id" else id_type)


def _asked(fields: _Fields, boosts: dict[str, float], pins: dict[str, int]) -> Asked:
    if fields.price_min is not None and fields.price_max is not None and fields.price_min > fields.price_max:
        raise InvalidRequest(
            "price_min is above price_max", price_min=fields.price_min, price_max=fields.price_max
        )
    if fields.context == "item" and fields.item_id is None:
        raise InvalidRequest("context=item needs item_id: the item of the page")
    if fields.context != "item" and fields.item_id is not None:
        raise InvalidRequest("item_id is for context=item; a cart's items go in item_ids with context=cart")
    if fields.context == "cart" and not fields.item_ids:
        raise InvalidRequest("context=cart needs item_ids: the items in the cart")
    if fields.context != "cart" and fields.item_ids:
        raise InvalidRequest("item_ids is for context=cart")
    if fields.exclude_seen_days is not None and not fields.exclude_seen:
        raise InvalidRequest("exclude_seen_days needs exclude_seen=true")
    if fields.exclude_bought_days is not None and not fields.exclude_bought:
        raise InvalidRequest("exclude_bought_days needs exclude_bought=true")
    rules = Rules(
        exclude_bought=fields.exclude_bought,
        exclude_bought_days=fields.exclude_bought_days,
        exclude_seen_days=(fields.exclude_seen_days if fields.exclude_seen else 0.0),
        in_stock_only=fields.in_stock,
        include_categories=frozenset(fields.categories) or None,
        exclude_categories=frozenset(fields.exclude_categories),
        labels_all=frozenset(fields.labels_all),
        labels_any=frozenset(fields.labels_any) or None,
        labels_none=frozenset(fields.labels_none),
        price_low=fields.price_min,
        price_high=fields.price_max,
        one_per_group=fields.one_per_variant,
        diversity=fields.diversity,
        max_per_category=fields.max_per_category,
        exploration=fields.exploration,
        seed=fields.seed,
    )
    return Asked(
        context=fields.context, k=fields.k, item_id=fields.item_id, item_ids=tuple(fields.item_ids),
        relation=fields.relation, rules=rules, boosts=boosts, pins=pins, algorithm=fields.algorithm,
    )  # fmt: skip


#: the threads that answer: two, not the event loop's pool of forty, so that sixteen
#: concurrent requests queue here instead of taking turns at the GIL (one computes
#: while the other reads the store)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="surmesure-recommend")


async def _answer(services: Services, asked: Asked, who: Who | None) -> JSON:
    loop = asyncio.get_running_loop()
    return JSON(await loop.run_in_executor(_POOL, recommendations(services).recommend, asked, who))


def recommendations(services: Services) -> Recommendations:
    value: Recommendations = services.capabilities["recommendations"]
    return value


async def _write_key(request: Request, services: ServicesDep) -> Principal:
    """``WriteKeyDep``, as a coroutine: a plain-function dependency costs a hop to a
    worker thread per request."""
    return principal_for(request, services)


_WriteKey = Annotated[Principal, Depends(_write_key)]


_LISTS = frozenset(
    name
    for name, f in RecommendationParams.model_fields.items()
    if getattr(f.annotation, "__origin__", None) is list
)


def _query_parameters() -> list[dict[str, Any]]:
    """The OpenAPI description of the query parameters (read by hand, see below)."""
    schema = RecommendationParams.model_json_schema()
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {k: v for k, v in prop.items() if k != "description"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema["properties"].items()
    ]


def _params(request: Request) -> RecommendationParams:
    """The query string as :class:`RecommendationParams`: one model validation, not
    FastAPI's field-by-field pass over some thirty fields; lists repeat the
    parameter, other repeated parameters keep the last value (as FastAPI does)."""
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in _LISTS:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    try:
        return RecommendationParams.model_validate(data)
    except ValidationError as error:
        problems = [{**e, "loc": ("query", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(problems) from None


@router.get(
    "/recommendations",
    summary="Recommendations for a person and a context (query parameters)",
    response_class=JSON,
    openapi_extra={"parameters": _query_parameters()},
)
async def get_recommendations(request: Request, services: ServicesDep, principal: _WriteKey) -> JSON:
    params = _params(request)
    who = _who(params, principal.kind)
    asked = _asked(params, _pairs(params.boost, "boost", float, 1000), _pairs(params.pin, "pin", int, 99))
    return await _answer(services, asked, who)


@router.post(
    "/recommendations",
    summary="Recommendations for a person and a context (JSON body)",
    response_class=JSON,
)
async def post_recommendations(body: RecommendationBody, services: ServicesDep, principal: _WriteKey) -> JSON:
    who = _who(body, principal.kind)
    asked = _asked(body, dict(body.boost), dict(body.pin))
    return await _answer(services, asked, who)
