"""The demo's live experiment over HTTP: the home page carries a decision on the banner
placement (sticky for the visitor's anonymousId cookie), and a click sent back with its
decision_id is attributed to the arm on /demo/experiment."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from surmesure.app import build_services
from surmesure.config import DEMO_WRITE_KEY
from surmesure.demo.experiment import DEFINITIONS, EXPERIMENT, PLACEMENT, apply_experiment
from surmesure.demo.load import load_demo

from builders import batch, track
from conftest import LiveServer, make_settings


@pytest.fixture
def shop(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    services = build_services(settings)
    load_demo(services, people=20, items=40, seed=5, now=datetime.now(UTC), progress=False)
    first = apply_experiment(services)
    assert apply_experiment(services) == first, "applying twice changes nothing"
    services.close()
    with LiveServer(settings) as live:
        yield live


def _page_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_home_page_carries_a_sticky_decision_and_a_click_is_attributed(shop: LiveServer) -> None:
    arms = {a["name"] for a in DEFINITIONS["experiments"][EXPERIMENT]["arms"]}
    with httpx.Client(base_url=shop.url, timeout=30) as web:
        home = web.get("/")
        assert home.status_code == 200
        visitor = home.cookies.get("surmesure.anonymousId")
        assert visitor, "a first visit gets the anonymousId the decision was made for"
        placement = _page_data(home.text)["page"]["placement"]
        assert placement["placement"] == PLACEMENT
        assert placement["arm"] in arms
        assert f'data-decision-id="{placement["decision_id"]}"' in home.text

        again = _page_data(web.get("/").text)["page"]["placement"]  # the cookie is sent back
        assert again["arm"] == placement["arm"], "sticky for the visitor"
        assert again["decision_id"] != placement["decision_id"]

        sent = batch(
            track("Placement Viewed", anonymousId=visitor, properties=placement),
            track("Placement Clicked", anonymousId=visitor, properties=placement),
        )
        answer = web.post("/v1/batch", json=sent, auth=(DEMO_WRITE_KEY, ""))
        assert answer.status_code == 200
        shop.wait_pipeline()

        page = web.get("/demo/experiment")
        assert page.status_code == 200
        row = re.search(rf'<tr data-arm="{placement["arm"]}">(.*?)</tr>', page.text, re.S)
        assert row is not None
        assert re.search(r"<td data-impressions>1</td><td data-clicks>1</td>", row.group(1))
        assert "mSPRT" in page.text


def test_without_the_experiment_the_home_page_has_no_banner(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path / "data", sqlite_url, demo=True)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as web:
        home = web.get("/")
        assert home.status_code == 200
        assert "placement" not in _page_data(home.text)["page"]
        assert "not applied" in web.get("/demo/experiment").text
