"""The demo's live experiment in Debian's chromium: the home page shows the banner the
server decided, the tracker sends its impression, a click on it goes out with the
decision_id before the page leaves, and /demo/experiment counts the click in its arm."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from surmesure.app import build_services
from surmesure.demo.experiment import apply_experiment
from surmesure.demo.load import load_demo

from conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("SURMESURE_SCREENSHOTS", "/tmp"))


def _chromium_or_skip() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path:
        return path
    message = "Debian's chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: browser tests may not skip under CI=true")
    pytest.skip(message)


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


def test_a_click_on_the_banner_is_attributed_to_its_arm(shop: LiveServer) -> None:
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
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
        browser.close()
    assert errors == [], f"JavaScript errors in the storefront: {errors}"
