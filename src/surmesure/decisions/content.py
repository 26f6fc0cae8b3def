"""The content of a chosen variant: static content as given, a template rendered in the
sandbox with the profile's traits, the request's context and the catalogue's item of
the page, or items from the recommendations capability's public service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from surmesure.catalog import service as catalog
from surmesure.decisions.domain import RecommendStrategy, Variant
from surmesure.decisions.render import Renderer
from surmesure.errors import SurmesureError
from surmesure.recommendations.rerank import Rules
from surmesure.recommendations.service import Who
from surmesure.recommendations.serving import Query

__all__ = ["produce"]

Recommend = Callable[[Query, Who | None], dict[str, Any]]


def produce(
    variant: Variant,
    engine: sa.Engine,
    renderer: Renderer,
    recommend: Recommend,
    traits: Mapping[str, Any],
    who: Who | None,
    context: Mapping[str, Any],
    why: list[str],
) -> dict[str, Any]:
    """The variant's part of the answer; ``traits`` and ``who`` are empty/None without
    consent to personalization. Reasons are appended to ``why``."""
    out: dict[str, Any] = {"kind": variant.kind, "title": variant.title}
    if variant.content is not None:
        out["content"] = variant.content
    elif variant.template is not None:
        data: dict[str, Any] = {"context": dict(context), "item": None, "profile": {"traits": dict(traits)}}
        item_id = context.get("item_id")
        if isinstance(item_id, str):
            try:
                data["item"] = catalog.get_item(engine, item_id).model_dump(mode="json")
            except SurmesureError:
                data["item"] = None
        rendered = renderer.render(variant.template, data)
        out["rendered"] = rendered.text
        if rendered.error:
            out["render_error"] = rendered.error
            why.append("the template could not be rendered")
    elif variant.recommend is not None:
        out["items"] = _items(variant.recommend, recommend, who, context, why)
    return out


def _items(
    s: RecommendStrategy, recommend: Recommend, who: Who | None, context: Mapping[str, Any], why: list[str]
) -> list[dict[str, Any]]:
    rules = Rules(
        exclude_bought=s.exclude_bought,
        in_stock_only=s.in_stock,
        include_categories=frozenset(s.categories) or None,
        exclude_categories=frozenset(s.exclude_categories),
        labels_any=frozenset(s.labels_any) or None,
        price_low=s.price_min,
        price_high=s.price_max,
        diversity=s.diversity,
    )
    item_id = context.get("item_id") if s.context == "item" else None
    cart = context.get("item_ids") if s.context == "cart" else None
    query = Query(
        context=s.context,
        k=s.k,
        item_id=item_id if isinstance(item_id, str) else None,
        item_ids=tuple(str(i) for i in cart) if isinstance(cart, list) else (),
        rules=rules,
        algorithm=s.algorithm,
    )
    try:
        answer = recommend(query, who)
    except SurmesureError as error:
        why.append(f"no recommendations: {error.message}")
        return []
    why.append(
        "recommended for this person" if answer["personalized"] else "popular items (not personalized)"
    )
    items: list[dict[str, Any]] = answer["items"]
    return items
