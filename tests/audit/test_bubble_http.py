"""GET /v1/audit/bubble over HTTP, on both stores: the lists people were shown (events
carrying the items), week by week; a person whose lists narrowed to one category is
flagged, one who kept seeing several is not; the figures match a hand computation."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from surmesure.cli import app

from builders import batch, item, track
from conftest import LiveServer

CATEGORIES = {"a": "Shoes", "b": "Bags", "c": "Hats", "d": "Socks"}


def shown(
    user: str, items: list[str], when: datetime, event: str = "Product List Viewed"
) -> dict[str, object]:
    if event == "Product List Viewed":
        props: dict[str, object] = {"products": [{"product_id": i} for i in items]}
    else:
        props = {"items": items}
    return track(event, userId=user, properties=props, timestamp=when.isoformat())


def test_a_narrowing_person_is_flagged(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    items = [item(f"{c}{n}", category_path=[CATEGORIES[c]]) for c in "abcd" for n in range(1, 5)]
    assert admin.put("/v1/items", json={"items": items}).status_code == 200
    now = datetime.now(UTC)
    before = now - timedelta(days=14)
    events = [
        shown("u1", ["a1", "b1", "c1", "d1"], before),
        shown("u1", ["a1", "a2", "a3", "a4"], now),
        shown("u2", ["a2", "b2", "c2", "d2"], before, event="Placement Viewed"),
        shown("u2", ["a3", "b3", "c3", "d3"], now),
        track("Product Viewed", userId="u2", properties={"product_id": "a1"}),  # not a list: ignored
    ]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()

    overall = admin.get("/v1/audit/bubble").json()
    assert overall["people"] == 2
    assert overall["lists"] == 4
    assert overall["categories"] == 4
    first, last = overall["weeks"]
    assert first["diversity"] == 1.0
    assert last["diversity"] == 0.5  # u1's list 0, u2's list 1
    assert first["entropy"] == 1.0
    assert first["catalogue_coverage"] == pytest.approx(8 / 16)
    assert [f["person"] for f in overall["flagged"]] == [admin.get("/v1/profiles/u1").json()["profile_id"]]
    flag = overall["flagged"][0]
    assert (flag["diversity"], flag["first_diversity"]) == (0.0, 1.0)

    one = admin.get("/v1/audit/bubble", params={"person": "u1"}).json()
    assert one["flagged"] is True
    week_a, week_b = one["weeks"]
    assert (week_a["diversity"], week_b["diversity"]) == (1.0, 0.0)
    assert (week_a["entropy"], week_b["entropy"]) == (1.0, 0.0)
    assert (week_a["category_coverage"], week_b["category_coverage"]) == (1.0, 0.25)
    # novelty: -log2(share of the 2 people shown an item): a2 and a3 were shown to both
    assert week_a["novelty"] == 1.0
    assert week_b["novelty"] == 0.5
    other = admin.get("/v1/audit/bubble", params={"person": "u2"}).json()
    assert other["flagged"] is False
    assert [w["diversity"] for w in other["weeks"]] == [1.0, 1.0]

    html = admin.get("/v1/audit/bubble", params={"format": "html"})
    assert "Filter-bubble monitor" in html.text
    assert "Flagged (1)" in html.text
    assert admin.get("/v1/audit/bubble", params={"person": "nobody"}).status_code == 404


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the CLI: one store is enough
def test_the_cli_reports_the_bubble(
    server: LiveServer,
    client: httpx.Client,
    admin: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = [item(f"{c}1", category_path=[CATEGORIES[c]]) for c in "abcd"]
    assert admin.put("/v1/items", json={"items": items}).status_code == 200
    events = [
        shown("u1", ["a1", "a1", "a1"], datetime.now(UTC)),
        shown("u2", ["a1", "b1", "c1"], datetime.now(UTC)),
    ]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    monkeypatch.setenv("SURMESURE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SURMESURE_DATA_DIR", str(server.settings.data_dir))
    monkeypatch.setenv("SURMESURE_STORE__URL", server.settings.store_url)
    monkeypatch.setenv("SURMESURE_IDENTITY__HASH_KEY", "test-identity-hash-key")
    out = tmp_path / "bubble.json"
    result = CliRunner().invoke(app, ["audit", "bubble", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["people"] == 2
    assert len(report["flagged"]) == 0  # u1's list repeats one item: a list of one distinct item has no pairs
    html = tmp_path / "bubble.html"
    assert CliRunner().invoke(app, ["audit", "bubble", "--person", "u2", "--out", str(html)]).exit_code == 0
    assert "Filter-bubble monitor" in html.read_text(encoding="utf-8")


def test_the_recommendations_shown_are_monitored(server: LiveServer, admin: httpx.Client) -> None:
    from recommendations.recshop import ready

    ready(server, admin)
    answer = admin.get("/v1/recommendations", params={"user_id": "person-3", "k": 5})
    assert answer.status_code == 200, answer.text
    items = [entry["id"] for entry in answer.json()["items"]]
    pid = admin.get("/v1/profiles/person-3").json()["profile_id"]
    deadline = time.monotonic() + 10
    while True:  # the answers are logged off the request path, within a second
        report = admin.get("/v1/audit/bubble", params={"person": "person-3"}).json()
        if report["weeks"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert report["person"] == pid
    [week] = report["weeks"]
    assert week["lists"] == 1
    overall = admin.get("/v1/audit/bubble").json()
    assert overall["lists"] >= 1
    assert len(items) == 5
