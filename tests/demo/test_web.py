"""The demo storefront over HTTP (no browser): pages, static files, escaping, profiles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from surmesure.app import build_services
from surmesure.catalog.domain import ItemIn
from surmesure.catalog.service import upsert_items
from surmesure.config import Settings
from surmesure.demo.generator import DemoShop, generate
from surmesure.demo.load import load_shop

from conftest import LiveServer, make_settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGED_TRACKER = ROOT / "src" / "surmesure" / "demo" / "static" / "surmesure.js"
SOURCE_TRACKER = ROOT / "js" / "tracker" / "surmesure.js"
NASTY = '<script>alert("x")</script>'


def test_the_served_tracker_is_the_tracker_source() -> None:
    assert PACKAGED_TRACKER.read_bytes() == SOURCE_TRACKER.read_bytes()


@pytest.fixture(scope="module")
def demo_shop() -> DemoShop:
    return generate(people=40, items=60, seed=9, now=datetime.now(UTC))


@pytest.fixture
def demo(tmp_path: Path, sqlite_url: str, demo_shop: DemoShop) -> Iterator[LiveServer]:
    settings: Settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    services = build_services(settings)
    load_shop(services, demo_shop, progress=False)
    nasty = ItemIn(
        id="x1", title=NASTY, brand=NASTY, category_path=["Women", NASTY], price=1.0, currency="EUR"
    )
    upsert_items(services.engine, [nasty], 0)
    services.close()
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def web(demo: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        yield client


def test_every_page_of_the_storefront_answers(web: httpx.Client, demo_shop: DemoShop) -> None:
    item = demo_shop.items[0]
    for path in (
        "/",
        "/category/Women",
        f"/category/{item['category_path'][1]}",
        item["url"],
        "/cart",
        "/login",
    ):
        response = web.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert '<script src="/static/surmesure.js">' in response.text
        assert "demo-write-key" in response.text
    assert item["title"] in web.get(item["url"]).text


def test_a_product_page_carries_its_product_viewed_event(web: httpx.Client, demo_shop: DemoShop) -> None:
    item = next(i for i in demo_shop.items if i["available"])
    page = web.get(item["url"]).text
    assert '"event": "Product Viewed"' in page
    assert f'"product_id": "{item["id"]}"' in page
    assert "data-add-to-cart" in page


def test_unknown_pages_and_files_answer_404(web: httpx.Client) -> None:
    assert web.get("/product/nope").status_code == 404
    assert web.get("/category/Nope").status_code == 404
    assert web.get("/static/secret.py").status_code == 404
    assert web.get("/static/..%2Fweb.py").status_code == 404


def test_static_files_and_placeholder_images(web: httpx.Client, demo_shop: DemoShop) -> None:
    tracker = web.get("/static/surmesure.js")
    assert tracker.status_code == 200
    assert "javascript" in tracker.headers["content-type"]
    assert tracker.content == SOURCE_TRACKER.read_bytes()
    assert web.get("/static/shop.css").status_code == 200
    image = web.get(demo_shop.items[0]["image"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.text.startswith("<svg")


def test_catalogue_text_is_escaped_everywhere(web: httpx.Client) -> None:
    for path in ("/product/x1", "/category/Women", "/static/img/x1.svg"):
        body = web.get(path).text
        assert NASTY not in body, path
    assert "&lt;script&gt;" in web.get("/product/x1").text


def test_the_profile_page_shows_a_known_visitor(
    web: httpx.Client, demo: LiveServer, demo_shop: DemoShop
) -> None:
    demo.wait_pipeline()
    person = max((p for p in demo_shop.people if p.user_id), key=lambda p: p.sessions)
    assert person.user_id is not None
    assert person.name is not None
    chooser = web.get("/demo/profile")
    assert chooser.status_code == 200
    assert "Recent visitors" in chooser.text
    page = web.get("/demo/profile", params={"id": person.user_id}).text
    assert person.name in page
    assert "Category affinity" in page
    assert "Last events" in page
    logged_in_device = next(
        e["anonymousId"]
        for e in demo_shop.events
        if e["type"] == "identify" and e["userId"] == person.user_id
    )
    by_anonymous_id = web.get("/demo/profile", params={"id": logged_in_device}).text
    assert person.name in by_anonymous_id
    assert "No profile for" in web.get("/demo/profile", params={"id": "nobody-here"}).text
