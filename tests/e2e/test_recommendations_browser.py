"""The storefront's live recommendations in Debian's chromium: "Recommended for you" on
the home page, "Similar" and "Bought together" on a product page, basket completion on
the cart, each with its reason, and the home page's answer changes after clicks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_storefront_browser import SCREENSHOTS, browser_page  # noqa: F401 - the fixture

from surmesure.app import build_services
from surmesure.demo.load import load_demo
from surmesure.recommendations.training import train

from conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser

HOME_RECS = "[data-recs][data-context=home]"


@pytest.fixture
def trained_shop(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    services = build_services(settings)
    load_demo(services, people=80, items=120, seed=5, now=datetime.now(UTC), progress=False)
    train(services.engine, settings)
    services.close()
    with LiveServer(settings) as live:
        yield live


def _shown(page: Any, selector: str) -> list[str]:
    page.wait_for_selector(f"{selector}:not([hidden]) .card")
    return [
        str(x) for x in page.eval_on_selector_all(f"{selector} .card", "cs => cs.map(c => c.dataset.itemId)")
    ]


def test_recommendations_show_with_reasons_and_follow_the_clicks(
    trained_shop: LiveServer, browser_page: Any,  # noqa: F811 - the fixture imported above
) -> None:
    page = browser_page
    page.goto(trained_shop.url + "/")
    page.click("[data-consent-accept]")
    before = _shown(page, HOME_RECS)
    assert len(before) == 8
    assert all(page.eval_on_selector_all(f"{HOME_RECS} .why", "ws => ws.map(w => w.textContent)"))

    # open a product from the last category shelf, add it to the cart
    page.click(".shelf:not(.recs):last-of-type .card:not(.out) h3 a")
    page.wait_for_selector("[data-add-to-cart]")
    similar = _shown(page, "[data-recs][data-relation=similar]")
    assert similar
    reasons = page.eval_on_selector_all("[data-relation=similar] .why", "ws => ws.map(w => w.textContent)")
    assert all(r.startswith("Similar to") for r in reasons)
    page.click("[data-add-to-cart]")
    page.wait_for_selector("[data-toast]:not([hidden])")
    page.screenshot(path=str(SCREENSHOTS / "surmesure-recommendations-product.png"), full_page=True)

    page.goto(trained_shop.url + "/cart")
    assert _shown(page, "[data-recs][data-context=cart]")

    page.goto(trained_shop.url + "/")
    after = _shown(page, HOME_RECS)
    assert after != before
    texts = page.eval_on_selector_all(f"{HOME_RECS} .why", "ws => ws.map(w => w.textContent)")
    assert any(t.startswith(("Because you", "Often", "Similar")) for t in texts), texts
    page.screenshot(path=str(SCREENSHOTS / "surmesure-recommendations-home.png"), full_page=False)
