"""The demo's live experiment in Debian's chromium: the home page shows the banner the
server decided, the tracker sends its impression, a click on it goes out with the
decision_id before the page leaves, and /demo/experiment counts the click in its arm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_storefront_browser import SCREENSHOTS, browser_page  # noqa: F401 - the fixture

from surmesure.app import build_services
from surmesure.demo.experiment import apply_experiment
from surmesure.demo.load import load_demo

from conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser

@pytest.fixture
def shop(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    services = build_services(settings)
    load_demo(services, people=20, items=40, seed=6, now=datetime.now(UTC), progress=False)
    apply_experiment(services)
    services.close()
    with LiveServer(settings) as live:
        yield live


def _clicks(page: Any, arm: str) -> str:
    text: str = page.inner_text(f'tr[data-arm="{arm}"] [data-clicks]')
    return text.strip()


def test_a_click_on_the_banner_is_attributed_to_its_arm(
    shop: LiveServer, browser_page: Any,  # noqa: F811 - the fixture imported above
) -> None:
    page = browser_page  # fails the test on any JavaScript error of the storefront
    page.goto(shop.url + "/")
    page.click("[data-consent-accept]")
    banner = page.wait_for_selector("[data-placement]")
    assert banner is not None
    arm = banner.get_attribute("data-arm")
    decision_id = banner.get_attribute("data-decision-id")
    assert arm
    assert decision_id
    anonymous_id = page.evaluate("window.surmesure.user().anonymousId")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["surmesure.anonymousId"] == anonymous_id, "decided for the tracker's visitor"
    page.screenshot(path=str(SCREENSHOTS / "surmesure-experiment-banner.png"))

    page.click("[data-placement-click]")
    page.wait_for_url("**/category/**")
    shop.wait_pipeline()
    page.goto(shop.url + "/demo/experiment")
    page.wait_for_selector("[data-results]")
    assert _clicks(page, arm) == "1"
    for other in page.eval_on_selector_all("tr[data-arm]", "rows => rows.map(r => r.dataset.arm)"):
        if other != arm:
            assert _clicks(page, other) == "0"
    page.screenshot(path=str(SCREENSHOTS / "surmesure-experiment-results.png"), full_page=True)
