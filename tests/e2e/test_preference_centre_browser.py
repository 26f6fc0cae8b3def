"""The preference centre in Debian's chromium, from the demo shop: the visitor opens it
from the storefront's footer, sees each purpose in plain words with its state, refuses
personalization with the form (no script needed) and, within a second,
/v1/recommendations and /v1/decide answer them without personalization; the "why"
page lists the banner decided for them with its reason; a browser sending Global
Privacy Control has marketing refused; a forged link shows the refusal code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_storefront_browser import CHROMIUM_ARGS, SCREENSHOTS, _chromium_or_skip, browser_page  # noqa: F401

from surmesure.app import build_services
from surmesure.config import DEMO_WRITE_KEY
from surmesure.demo.experiment import PLACEMENT, apply_experiment
from surmesure.demo.load import load_demo
from surmesure.recommendations.service import NO_CONSENT
from surmesure.recommendations.training import train

from conftest import LiveServer, make_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    services = build_services(settings)
    load_demo(services, people=40, items=60, seed=7, now=datetime.now(UTC), progress=False)
    apply_experiment(services)
    train(services.engine, settings)
    services.close()
    with LiveServer(settings) as live:
        yield live


def _state(page: Any, purpose: str) -> str:
    return str(page.inner_text(f'fieldset[data-purpose="{purpose}"] [data-state]'))


def test_a_visitor_refuses_personalization_in_the_preference_centre(
    shop: LiveServer,
    browser_page: Any,  # noqa: F811 - the fixture imported above
) -> None:
    page = browser_page
    page.goto(shop.url + "/")
    page.click("[data-consent-accept]")
    page.wait_for_function("window.surmesure.queued() === 0")
    anonymous_id = page.evaluate("window.surmesure.user().anonymousId")
    shop.wait_pipeline()
    http = httpx.Client(base_url=shop.url, auth=(DEMO_WRITE_KEY, ""), timeout=30)
    ask = {"anonymous_id": anonymous_id, "k": 4}
    assert http.get("/v1/recommendations", params=ask).json()["reason"] != NO_CONSENT
    decide = {"placement": PLACEMENT, "anonymous_id": anonymous_id}
    assert http.post("/v1/decide", json=decide).json()["personalized"] is True

    page.click("[data-preference-centre]")
    page.wait_for_selector("form button[type=submit]")
    assert "/privacy/preferences?t=" in page.url
    assert _state(page, "personalization") == "allowed"
    assert "in the site's privacy banner" in page.inner_text('fieldset[data-purpose="personalization"]') or (
        "sent by the site" in page.inner_text('fieldset[data-purpose="personalization"]')
    )
    # every choice has a label the browser associates with its control
    page.get_by_label("Refuse personalization").check()
    page.screenshot(path=str(SCREENSHOTS / "surmesure-preferences.png"), full_page=True)
    sent = time.monotonic()
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-saved]")
    assert _state(page, "personalization") == "not allowed"
    assert "on this page" in page.inner_text('fieldset[data-purpose="personalization"]')
    while True:
        recs = http.get("/v1/recommendations", params=ask).json()
        decided = http.post("/v1/decide", json=decide).json()
        if recs["reason"] == NO_CONSENT and not decided["personalized"]:
            break
        assert time.monotonic() - sent < 1.0, "the refusal was not applied within 1 s"
        time.sleep(0.02)

    page.click("text=Why am I seeing this?")
    page.wait_for_selector("article[data-decision]")
    text = page.inner_text("main")
    assert PLACEMENT in text
    assert "This is an experiment" in text
    assert "not allowed" in page.inner_text("[data-personalization]")
    page.screenshot(path=str(SCREENSHOTS / "surmesure-why.png"), full_page=True)

    token = page.url.split("t=", 1)[1]
    page.goto(shop.url + "/privacy/why?t=" + token[:-3] + "xyz")
    assert page.get_attribute("[data-error-code]", "data-error-code") == "preferences.link_invalid"


def test_global_privacy_control_is_honoured_on_the_page(shop: LiveServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium_or_skip(), args=CHROMIUM_ARGS)
        page = browser.new_context(extra_http_headers={"Sec-GPC": "1"}).new_page()
        page.goto(shop.url + "/")
        page.click("[data-consent-accept]")  # marketing ticked in the banner...
        page.wait_for_function("window.surmesure.queued() === 0")
        page.click("[data-preference-centre]")
        page.wait_for_selector("[data-gpc]")
        assert _state(page, "marketing") == "not allowed"  # ... and refused by the signal
        page.get_by_label("Allow marketing").check()
        page.click("form button[type=submit]")
        page.wait_for_selector("[data-saved]")
        assert _state(page, "marketing") == "not allowed"
        assert "Global Privacy Control" in page.inner_text('fieldset[data-purpose="marketing"]')
        browser.close()
