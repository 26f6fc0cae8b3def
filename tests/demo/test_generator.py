"""The demo shop generator: seeded, valid for the server, and true to its latent model."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from surmesure.catalog.domain import ItemIn
from surmesure.config import Settings
from surmesure.demo.generator import DemoShop, generate, user_id_for_email
from surmesure.events.domain import Limits, Normalized, normalize

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@cache
def shop(seed: int = 7, people: int = 300, items: int = 150) -> DemoShop:
    return generate(people=people, items=items, seed=seed, now=NOW)


def limits() -> Limits:
    """The limits ``surmesure.pipeline.build_capabilities`` builds from default settings."""
    settings = Settings(demo=True)
    return Limits(
        max_event_bytes=settings.ingest.max_event_bytes,
        max_future_skew_ms=settings.ingest.max_future_skew_seconds * 1000,
        known_types=frozenset(settings.ingest.known_event_types),
        ip_mode=settings.privacy.ip_mode,
        ip_key=settings.identity.hash_key.get_secret_value(),
    )


def products_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    props = event.get("properties") or {}
    if isinstance(props.get("products"), list):
        return list(props["products"])
    return [props] if "product_id" in props else []


def test_the_same_seed_gives_the_same_shop_and_another_seed_another() -> None:
    first = generate(people=80, items=60, seed=11, now=NOW)
    again = generate(people=80, items=60, seed=11, now=NOW)
    other = generate(people=80, items=60, seed=12, now=NOW)
    assert first.items == again.items
    assert first.events == again.events
    assert first.people == again.people
    assert first.events != other.events


def test_message_ids_are_unique_and_derived_from_the_seed() -> None:
    ids = [event["messageId"] for event in shop().events]
    assert len(ids) == len(set(ids))
    assert all(message_id.startswith("demo-7-") for message_id in ids)


def test_every_event_passes_the_servers_validation() -> None:
    rules = limits()
    received = NOW + timedelta(minutes=1)
    refused = [
        (event["messageId"], result)
        for event in shop().events
        if not isinstance(
            result := normalize(event, received=received, limits=rules, source="demo"), Normalized
        )
    ]
    assert refused == []


def test_every_item_is_a_valid_catalogue_item() -> None:
    items = [ItemIn.model_validate(item) for item in shop().items]
    assert len({item.id for item in items}) == 150
    assert all(item.url == f"/product/{item.id}" and item.price and item.price > 0 for item in items)
    assert all(item.available == (item.stock is not None and item.stock > 0) for item in items)
    assert all(len(item.category_path) == 2 for item in items)
    assert any(not item.available for item in items), "some items are out of stock"


def test_events_lie_in_the_90_days_before_now_in_time_order() -> None:
    stamps = [datetime.fromisoformat(event["timestamp"]) for event in shop().events]
    assert stamps == sorted(stamps)
    assert min(stamps) >= NOW - timedelta(days=92)
    assert max(stamps) <= NOW


def test_the_funnel_narrows_from_views_to_carts_to_orders() -> None:
    counts = Counter(event.get("event") for event in shop().events if event["type"] == "track")
    assert counts["Product Viewed"] > counts["Product Added"] > counts["Order Completed"] > 0


def test_an_order_holds_only_products_added_earlier_on_the_same_device() -> None:
    added: dict[str, set[str]] = defaultdict(set)
    for event in shop().events:
        if event.get("event") == "Product Added":
            added[event["anonymousId"]].add(event["properties"]["product_id"])
        elif event.get("event") == "Order Completed":
            lines = event["properties"]["products"]
            assert {line["product_id"] for line in lines} <= added[event["anonymousId"]]
            revenue = sum(line["price"] * line["quantity"] for line in lines)
            assert event["properties"]["revenue"] == pytest.approx(revenue)
            assert event["properties"]["currency"] == "EUR"


def test_products_in_events_have_the_catalogues_price_category_and_brand() -> None:
    catalogue = {item["id"]: item for item in shop().items}
    checked = 0
    for event in shop().events:
        for product in products_of(event):
            item = catalogue[product["product_id"]]
            assert product["price"] == item["price"]
            assert product["category"] == item["category_path"][-1]
            assert product["brand"] == item["brand"]
            checked += 1
    assert checked > 500


def test_anonymous_visits_are_later_identified_with_both_ids() -> None:
    events = shop().events
    identifies = [event for event in events if event["type"] == "identify"]
    assert identifies
    assert all(event.get("anonymousId") and event.get("userId") for event in identifies)
    first_login: dict[str, str] = {}
    for event in identifies:
        first_login.setdefault(event["anonymousId"], event["timestamp"])
    anonymous_before = {
        event["anonymousId"]
        for event in events
        if "userId" not in event
        and event["anonymousId"] in first_login
        and event["timestamp"] < first_login[event["anonymousId"]]
    }
    assert len(anonymous_before) >= 20, "devices browsed anonymously before their first login"


def test_account_holders_log_in_with_their_email_derived_user_id() -> None:
    holders = [person for person in shop().people if person.user_id is not None]
    assert 0.5 < len(holders) / len(shop().people) < 0.7
    identified = {event["userId"] for event in shop().events if event["type"] == "identify"}
    assert identified == {person.user_id for person in holders}
    for person in holders:
        assert person.email is not None
        assert person.user_id == user_id_for_email(person.email)
    traits = [event["traits"] for event in shop().events if event["type"] == "identify"]
    assert all({"email", "name"} <= set(trait) for trait in traits)
    assert any("crm_id" in trait for trait in traits)


def test_consent_grants_analytics_and_personalization_to_most_and_marketing_to_some() -> None:
    choices = [event["context"]["consent"]["categoryPreferences"] for event in shop().events]
    share = {purpose: sum(c[purpose] for c in choices) / len(choices) for purpose in choices[0]}
    assert share["analytics"] > 0.9
    assert share["personalization"] > 0.7
    assert 0.3 < share["marketing"] < 0.9


def test_the_categories_people_browse_follow_their_latent_tastes() -> None:
    """The truth a unified profile should find: a heavy visitor's most viewed category is
    one of their three favourite categories."""
    data = shop(seed=3, people=400, items=300)
    owner = {anon: person for person in data.people for anon in person.anonymous_ids}
    viewed: dict[int, Counter[str]] = defaultdict(Counter)
    for event in data.events:
        if event.get("event") == "Product Viewed":
            viewed[owner[event["anonymousId"]].index][event["properties"]["category"]] += 1
    heavy = [person for person in data.people if sum(viewed[person.index].values()) >= 10]
    assert len(heavy) >= 30
    hits = sum(viewed[p.index].most_common(1)[0][0] in p.top_categories for p in heavy)
    assert hits / len(heavy) > 0.8


def test_user_id_for_email_ignores_case_and_spaces() -> None:
    assert user_id_for_email(" Camille@Example.com ") == user_id_for_email("camille@example.com")
    assert user_id_for_email("a@example.com") != user_id_for_email("b@example.com")
    assert len(user_id_for_email("a@example.com")) == 18


def test_it_refuses_an_empty_shop() -> None:
    with pytest.raises(ValueError):
        generate(people=0, items=10, now=NOW)
