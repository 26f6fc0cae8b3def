"""Loading the demo shop into a real store (SQLite and PostgreSQL) through the services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from surmesure.app import build_services
from surmesure.catalog.store import items
from surmesure.config import Settings
from surmesure.demo.cli import ensure_demo
from surmesure.demo.generator import generate
from surmesure.demo.load import load_demo
from surmesure.deps import Services
from surmesure.events.store import events, quarantine

PEOPLE, ITEMS, SEED = 200, 100, 5


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


def count(services: Services, table: sa.Table) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_generated_event_and_item_is_stored_and_nothing_quarantined(services: Services) -> None:
    now = datetime.now(UTC)
    report = load_demo(services, people=PEOPLE, items=ITEMS, seed=SEED, now=now, progress=False)
    generated = generate(people=PEOPLE, items=ITEMS, seed=SEED, now=now)

    assert report.events_generated == len(generated.events) > 1000
    assert report.events_accepted == len(generated.events)
    assert report.quarantined == 0
    assert report.errors == []
    assert count(services, events) == len(generated.events)
    assert count(services, quarantine) == 0
    assert count(services, items) == ITEMS
    assert services.capabilities["pipeline"].backlog() == 0
    assert set(report.seconds) == {"generate", "items", "events", "pipeline"}


def test_loading_the_same_seed_twice_stores_nothing_new(services: Services) -> None:
    now = datetime.now(UTC)
    load_demo(services, people=40, items=30, seed=SEED, now=now, progress=False)
    stored = count(services, events)
    again = load_demo(services, people=40, items=30, seed=SEED, now=now, progress=False)
    assert again.events_accepted == 0
    assert again.duplicates == again.events_generated
    assert count(services, events) == stored


def test_unified_profiles_reflect_the_latent_tastes(services: Services) -> None:
    now = datetime.now(UTC)
    load_demo(services, people=PEOPLE, items=ITEMS, seed=SEED, now=now, progress=False)
    shop = generate(people=PEOPLE, items=ITEMS, seed=SEED, now=now)
    profiles = services.capabilities["profiles"]
    identified = [person for person in shop.people if person.user_id is not None and person.sessions >= 4]
    assert len(identified) >= 15
    hits = 0
    for person in identified:
        assert person.user_id is not None
        view = profiles.get(person.user_id)
        assert view is not None, person
        assert view["traits"]["email"] == person.email
        ids = {(i["type"], i["value"]) for i in view["identifiers"]}
        # the devices this person logged in on, and their anonymous visits, are one profile
        assert ("user_id", person.user_id) in ids
        assert any(("anonymous_id", anon) in ids for anon in person.anonymous_ids)
        top = [entry["name"] for entry in view["features"]["category_affinity"][:1]]
        hits += bool(set(top) & set(person.top_categories))
    assert hits / len(identified) > 0.7


def test_ensure_demo_loads_an_empty_store_once(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(
        demo=True, data_dir=tmp_path / "demo", store={"url": sqlite_url, "sqlite_synchronous": "NORMAL"}
    )
    first = ensure_demo(settings, people=30, items=40, seed=1)
    assert first is not None
    assert first.events_accepted == first.events_generated
    assert ensure_demo(settings, people=30, items=40, seed=1) is None
    again = ensure_demo(settings, people=30, items=40, seed=2, reset=True)
    assert again is not None
    assert again.people == 30
