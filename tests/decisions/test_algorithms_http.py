"""Experiment results over HTTP on both stores: two recommendation strategies tested
against each other on one placement (the person's history versus items similar to the
page's), two models (EASE against popularity, parts of the served hybrid), and CTR with
its always-valid mSPRT next to conversion."""

from __future__ import annotations

from typing import Any

import httpx

from surmesure.recommendations.training import train

from builders import batch, identify, item, track
from conftest import LiveServer

CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
SHOES = [f"s{i}" for i in range(8)]
HATS = [f"h{i}" for i in range(8)]
PICKS = {
    "channel": "web",
    "slot": "picks",
    "variants": [
        {"id": "history", "recommend": {"context": "home", "k": 3, "exclude_bought": False}},
        {"id": "similar", "recommend": {"context": "item", "k": 3, "exclude_bought": False}},
    ],
}
DUEL = {
    "placement": "picks",
    "arms": [{"name": "history", "variant": "history"}, {"name": "similar", "variant": "similar"}],
}


def _shop(server: LiveServer, admin: httpx.Client) -> dict[str, list[str]]:
    """Shoe people view shoes, hat people hats; a model trained on it and served."""
    items = [item(i, title=f"Shoe {i}", category_path=["Fashion", "Shoes"]) for i in SHOES]
    items += [item(i, title=f"Hat {i}", category_path=["Fashion", "Hats"]) for i in HATS]
    assert admin.put("/v1/items", json={"items": items}).status_code == 200
    people = {f"shoe-{p}": SHOES for p in range(20)} | {f"hat-{p}": HATS for p in range(20)}
    events = []
    for n, (person, kind) in enumerate(people.items()):
        events.append(identify(person, context=CONSENT))
        events += [
            track(
                "Product Viewed", userId=person, properties={"product_id": kind[(n + k) % 8]}, context=CONSENT
            )
            for k in range(4)
        ]
    assert admin.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    train(server.services.engine, server.settings)
    server.services.capabilities["recommendations"].reload()
    return people


def test_two_recommendation_algorithms_are_tested_on_one_placement(
    server: LiveServer, admin: httpx.Client
) -> None:
    people = _shop(server, admin)
    assert admin.put("/v1/placements/picks", json=PICKS).status_code == 200
    assert admin.put("/v1/experiments/duel", json=DUEL).status_code == 200
    events, arms = [], {}
    for _ in range(2):
        for person, kind in people.items():
            body = {"placement": "picks", "user_id": person, "context": {"item_id": "h0"}}
            answer = admin.post("/v1/decide", json=body).json()
            ids = [entry["id"] for entry in answer["items"]]
            arms[person] = answer["experiment"]["arm"]
            assert answer["variant"] == arms[person]
            assert len(ids) == 3
            # each arm is its own algorithm: the person's history, or what resembles the hat on the page
            assert set(ids) <= set(kind if arms[person] == "history" else HATS), (person, answer)
            props = {"decision_id": answer["decision_id"]}
            events.append(track("Placement Viewed", userId=person, properties=props))
            if set(ids) <= set(kind):  # people click what they came for
                events.append(track("Placement Clicked", userId=person, properties=props))
    assert set(arms.values()) == {"history", "similar"}
    assert admin.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()

    results = admin.get("/v1/experiments/duel/results").json()
    by_arm = {a["arm"]: a for a in results["arms"]}
    assert by_arm["history"]["ctr"]["estimate"] == 1.0
    shoe_people_on_similar = sum(1 for p, arm in arms.items() if arm == "similar" and p.startswith("shoe"))
    hat_people_on_similar = sum(1 for p, arm in arms.items() if arm == "similar" and p.startswith("hat"))
    assert by_arm["similar"]["impressions"] == 2 * (shoe_people_on_similar + hat_people_on_similar)
    assert by_arm["similar"]["clicks"] == 2 * hat_people_on_similar
    ctr = next(c for c in results["sequential"] if c["metric"] == "ctr")
    assert (ctr["arm"], ctr["against"], ctr["unit"]) == ("similar", "history", "impression")
    assert ctr["n"] == [by_arm["history"]["impressions"], by_arm["similar"]["impressions"]]


def test_two_models_are_tested_against_each_other_on_one_placement(
    server: LiveServer, admin: httpx.Client
) -> None:
    people = _shop(server, admin)
    models = {
        "channel": "web",
        "slot": "models",
        "variants": [
            {"id": v, "recommend": {"context": "home", "k": 3, "exclude_bought": False, "algorithm": v}}
            for v in ("ease", "popularity")
        ],
    }
    assert admin.put("/v1/placements/models", json=models).status_code == 200
    duel = {"placement": "models", "arms": [{"name": v, "variant": v} for v in ("ease", "popularity")]}
    assert admin.put("/v1/experiments/models", json=duel).status_code == 200
    shown: dict[str, set[tuple[str, ...]]] = {"ease": set(), "popularity": set()}
    for person, kind in people.items():
        answer = admin.post("/v1/decide", json={"placement": "models", "user_id": person}).json()
        ids = tuple(entry["id"] for entry in answer["items"])
        arm = answer["experiment"]["arm"]
        assert len(ids) == 3, answer
        shown[arm].add(ids)
        if arm == "ease":  # the person's own neighbourhood
            assert set(ids) <= set(kind), (person, answer)
    assert shown["ease"]
    assert len(shown["popularity"]) == 1  # one list for everyone: popularity ignores the person
    results = admin.get("/v1/experiments/models/results").json()
    assert {a["arm"] for a in results["arms"]} == {"ease", "popularity"}


def _hero(admin: httpx.Client) -> None:
    hero = {
        "channel": "web",
        "slot": "hero",
        "variants": [{"id": "x", "content": {}}, {"id": "y", "content": {}}],
    }
    assert admin.put("/v1/placements/hero", json=hero).status_code == 200
    ab = {"placement": "hero", "arms": [{"name": "a", "variant": "x"}, {"name": "b", "variant": "y"}]}
    assert admin.put("/v1/experiments/hero-ab", json=ab).status_code == 200


def _run(client: httpx.Client, n: int, ctr: dict[str, float], prefix: str) -> list[dict[str, Any]]:
    """``n`` visitors, one decision each, a view each, a click on every k-th of each arm."""
    events: list[dict[str, Any]] = []
    seen = {"a": 0, "b": 0}
    for i in range(n):
        visitor = f"{prefix}{i}"
        answer = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": visitor}).json()
        arm = answer["experiment"]["arm"]
        props = {"decision_id": answer["decision_id"]}
        events.append(track("Placement Viewed", anonymousId=visitor, properties=props))
        seen[arm] += 1
        if seen[arm] % round(1 / ctr[arm]) == 0:
            events.append(track("Placement Clicked", anonymousId=visitor, properties=props))
    return events


def test_ctr_has_an_always_valid_test_that_calls_a_clear_winner(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    _hero(admin)
    events = _run(client, 160, {"a": 0.1, "b": 0.5}, "w")
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    results = admin.get("/v1/experiments/hero-ab/results").json()
    by_arm = {a["arm"]: a for a in results["arms"]}
    assert by_arm["a"]["ctr"]["estimate"] < 0.15 < 0.45 < by_arm["b"]["ctr"]["estimate"]
    metrics = {c["metric"]: c for c in results["sequential"]}
    assert set(metrics) == {"conversion", "ctr"}
    assert metrics["conversion"]["significant"] is False  # nobody converted
    ctr = metrics["ctr"]
    assert ctr["significant"] is True
    assert ctr["difference"]["low"] > 0
    n = ctr["paired"]  # the test pairs the first n impressions of each arm, in order
    assert n == min(by_arm["a"]["impressions"], by_arm["b"]["impressions"]) == min(ctr["n"])
    assert ctr["difference"]["estimate"] == round((n // 2 - n // 10) / n, 6)
    assert ctr["p_value"] < 0.05
    assert ctr["verdict"].startswith("b differs from a on CTR")


def test_equal_ctrs_are_not_called_different(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    _hero(admin)
    events = _run(client, 160, {"a": 0.25, "b": 0.25}, "e")
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    ctr = next(
        c for c in admin.get("/v1/experiments/hero-ab/results").json()["sequential"] if c["metric"] == "ctr"
    )
    assert ctr["significant"] is False
    assert ctr["difference"]["low"] < 0 < ctr["difference"]["high"]
    assert "keep collecting" in ctr["verdict"]
