"""POST /v1/decide over HTTP, on both stores: targeting with consent and the
non-personalized fallback, deterministic and sticky assignment (through the
anonymous-to-known merge), frequency caps that suppress and log, attribution of
events by decision_id in the results, keys."""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from surmesure.decisions import store
from surmesure.experiments.assignment import Arm, Design, assign

from builders import batch, identify, item, track
from conftest import LiveServer

HASH_KEY = b"test-identity-hash-key"
CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}

HERO: dict[str, Any] = {
    "channel": "web",
    "slot": "hero",
    "variants": [
        {
            "id": "pro",
            "priority": 10,
            "when": {"field": "traits.plan", "eq": "pro"},
            "content": {"text": "Pro"},
        },
        {"id": "welcome", "template": "Hello {{ profile.traits.name | default('there') }}"},
        {"id": "plain", "content": {"text": "Plain"}},
    ],
    "fallback": "welcome",
}
AB = {"placement": "hero", "arms": [{"name": "a", "variant": "plain"}, {"name": "b", "variant": "pro"}]}


def _error(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_targeting_with_consent_and_the_fallback_without(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/placements/hero", json=HERO).status_code == 200
    events = [
        identify("ann", traits={"plan": "pro", "name": "Ann"}, context=CONSENT),
        identify("bob", traits={"plan": "pro", "name": "Bob"}),
    ]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()

    ann = admin.post("/v1/decide", json={"placement": "hero", "user_id": "ann"}).json()
    assert ann["variant"] == "pro"
    assert ann["content"] == {"text": "Pro"}
    assert ann["personalized"] is True
    assert "targeted: pro" in ann["reason"]
    assert len(ann["decision_id"]) >= 16

    bob = admin.post("/v1/decide", json={"placement": "hero", "user_id": "bob"}).json()
    assert bob["variant"] == "welcome"
    assert bob["rendered"] == "Hello there"  # no traits without consent
    assert bob["personalized"] is False
    assert "no consent for personalization" in bob["reason"]

    refused = {"placement": "hero", "user_id": "ann", "context": {"consent": {"personalization": False}}}
    assert admin.post("/v1/decide", json=refused).json()["variant"] == "welcome"


def _split(design: Design) -> tuple[str, str]:
    """An anonymous id and a user id that hash to different arms (stickiness is not luck)."""
    for i in range(1000):
        anon, user = f"anon-{i}", f"user-{i}"
        if (
            assign(design, f"anonymous_id:{anon}", HASH_KEY).arm
            != assign(design, f"user_id:{user}", HASH_KEY).arm
        ):
            return anon, user
    raise AssertionError("no split found")


def test_the_arm_survives_the_anonymous_to_known_merge(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/placements/hero", json=HERO).status_code == 200
    assert admin.put("/v1/experiments/hero-ab", json=AB).status_code == 200
    anon, user = _split(Design("hero-ab", (Arm("a"), Arm("b"))))
    first = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": anon}).json()
    expected = assign(Design("hero-ab", (Arm("a"), Arm("b"))), f"anonymous_id:{anon}", HASH_KEY).arm
    assert first["experiment"] == {"id": "hero-ab", "arm": expected, "holdout": False}
    assert first["propensity"] == 0.5
    again = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": anon}).json()
    assert again["experiment"]["arm"] == expected  # deterministic and sticky

    assert client.post("/v1/batch", json=batch(identify(user, anonymousId=anon))).status_code == 200
    server.wait_pipeline()
    known = admin.post("/v1/decide", json={"placement": "hero", "user_id": user}).json()
    assert known["experiment"]["arm"] == expected
    assert "first exposure" in known["reason"]

    # the write key decides only for its own visitor, by anonymous_id
    wrong = client.post("/v1/decide", json={"placement": "hero", "user_id": user})
    assert wrong.status_code == 403
    assert _error(wrong) == "access.wrong_key_kind"


def test_assignment_is_deterministic_and_spread(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/v1/placements/hero", json=HERO)
    admin.put("/v1/experiments/hero-ab", json={**AB, "holdout_share": 0.2})
    design = Design("hero-ab", (Arm("a"), Arm("b")), holdout_share=0.2)
    seen = set()
    for i in range(40):
        body = {"placement": "hero", "anonymous_id": f"v{i}"}
        arm = client.post("/v1/decide", json=body).json()["experiment"]["arm"]
        assert arm == (assign(design, f"anonymous_id:v{i}", HASH_KEY).arm or "holdout")
        seen.add(arm)
    assert seen == {"a", "b", "holdout"}


def test_caps_suppress_and_every_suppression_is_logged(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    capped = {**HERO, "caps": [{"scope": "placement", "max": 2, "within_hours": 24}]}
    admin.put("/v1/placements/hero", json=capped)
    answers = [
        client.post("/v1/decide", json={"placement": "hero", "anonymous_id": "v1"}).json() for _ in range(3)
    ]
    assert [a["suppressed"] for a in answers] == [False, False, True]
    assert answers[2]["variant"] is None
    assert "frequency cap: 2 of at most 2 decisions" in answers[2]["reason"]
    other = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": "v2"}).json()
    assert other["suppressed"] is False  # per person

    admin.put(
        "/v1/placements/hero", json={**HERO, "caps": [{"scope": "global", "max": 3, "within_hours": 1}]}
    )
    assert client.post("/v1/decide", json={"placement": "hero", "anonymous_id": "v3"}).json()["suppressed"]
    with server.services.engine.connect() as conn:
        rows = conn.execute(sa.select(store.decisions).where(store.decisions.c.suppressed.is_not(None))).all()
    assert len(rows) == 2
    assert all(r.suppressed.startswith("frequency cap") and r.reason == r.suppressed for r in rows)


def test_events_with_the_decision_id_are_attributed_in_the_results(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/v1/placements/hero", json=HERO)
    admin.put("/v1/experiments/hero-ab", json=AB)
    events = []
    for i in range(12):
        answer = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": f"p{i}"}).json()
        props = {"decision_id": answer["decision_id"]}
        events.append(track("Placement Viewed", anonymousId=f"p{i}", properties=props))
        if i % 2 == 0:
            events.append(track("Placement Clicked", anonymousId=f"p{i}", properties=props))
        if i % 4 == 0:
            events.append(track("Order Completed", anonymousId=f"p{i}", properties={**props, "revenue": 10}))
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    results = admin.get("/v1/experiments/hero-ab/results").json()
    arms = {a["arm"]: a for a in results["arms"]}
    assert sum(a["impressions"] for a in arms.values()) == 12
    assert sum(a["clicks"] for a in arms.values()) == 6
    assert sum(a["visitors"] for a in arms.values()) == 12
    revenue = sum(a["revenue_per_visitor"]["estimate"] * a["visitors"] for a in arms.values())
    assert abs(revenue - 30) < 1e-6
    assert results["sequential"][0]["significant"] is False
    assert "keep collecting" in results["sequential"][0]["verdict"]
    assert admin.get("/v1/experiments/nope/results").status_code == 404


def test_a_thompson_bandit_logs_every_decision_with_its_propensity(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/v1/placements/hero", json=HERO)
    bandit = {**AB, "kind": "thompson", "arms": [*AB["arms"], {"name": "c", "variant": "welcome"}]}
    assert admin.put("/v1/experiments/hero-bandit", json=bandit).status_code == 200
    answers = [
        client.post("/v1/decide", json={"placement": "hero", "anonymous_id": f"t{i}"}).json()
        for i in range(8)
    ]
    for answer in answers:
        assert answer["experiment"]["arm"] in {"a", "b", "c"}
        assert 0.05 <= answer["propensity"] <= 1.0
        assert "Thompson sampling" in answer["reason"]
    with server.services.engine.connect() as conn:
        logged = conn.execute(sa.select(store.decisions.c.propensity, store.decisions.c.arm)).all()
    assert sorted(p for p, _ in logged) == sorted(a["propensity"] for a in answers)


def test_a_recommendation_variant_says_why_it_has_no_items_before_training(
    client: httpx.Client, admin: httpx.Client
) -> None:
    picks = {"channel": "email", "slot": "picks", "variants": [{"id": "recs", "recommend": {"k": 3}}]}
    assert admin.put("/v1/placements/picks", json=picks).status_code == 200
    answer = client.post("/v1/decide", json={"placement": "picks", "anonymous_id": "r1"}).json()
    assert answer["kind"] == "recommend"
    assert answer["items"] == []
    assert "no recommendations" in answer["reason"]


def test_two_exposed_visitors_merged_keep_the_earliest_arm(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/v1/placements/hero", json=HERO)
    admin.put("/v1/experiments/hero-ab", json=AB)
    design = Design("hero-ab", (Arm("a"), Arm("b")))
    arms = {f"m{i}": assign(design, f"anonymous_id:m{i}", HASH_KEY).arm for i in range(50)}
    phone = next(a for a, arm in arms.items() if arm == "a")
    laptop = next(a for a, arm in arms.items() if arm == "b")
    assert (
        client.post("/v1/decide", json={"placement": "hero", "anonymous_id": phone}).json()["experiment"][
            "arm"
        ]
        == "a"
    )
    time.sleep(0.01)
    assert (
        client.post("/v1/decide", json={"placement": "hero", "anonymous_id": laptop}).json()["experiment"][
            "arm"
        ]
        == "b"
    )
    merge = batch(identify("mia", anonymousId=laptop), identify("mia", anonymousId=phone))
    assert client.post("/v1/batch", json=merge).status_code == 200
    server.wait_pipeline()
    for body in ({"user_id": "mia"}, {"anonymous_id": laptop}, {"anonymous_id": phone}):
        answer = admin.post("/v1/decide", json={"placement": "hero", **body}).json()
        assert answer["experiment"]["arm"] == "a", body  # the phone's exposure came first


def test_a_template_is_filled_with_profile_and_catalogue_fields(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/items", json={"items": [item("sku-1", title="Red <Boots>")]}).status_code == 200
    card = {
        "channel": "email",
        "slot": "card",
        "variants": [
            {"id": "card", "template": "{{ profile.traits.name }}: {{ item.title }} at {{ item.price }}"}
        ],
    }
    admin.put("/v1/placements/card", json=card)
    client.post("/v1/batch", json=batch(identify("eve", traits={"name": "Eve"}, context=CONSENT)))
    server.wait_pipeline()
    answer = admin.post(
        "/v1/decide", json={"placement": "card", "user_id": "eve", "context": {"item_id": "sku-1"}}
    )
    assert answer.json()["rendered"] == "Eve: Red &lt;Boots&gt; at 10.0"


def test_a_clear_winner_is_called_by_the_always_valid_test(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/v1/placements/hero", json=HERO)
    admin.put("/v1/experiments/hero-ab", json=AB)
    events = []
    for i in range(120):
        answer = client.post("/v1/decide", json={"placement": "hero", "anonymous_id": f"w{i}"}).json()
        converts = (answer["experiment"]["arm"] == "b") == (i % 10 != 0)
        if converts:
            props = {"decision_id": answer["decision_id"], "revenue": 5}
            events.append(track("Order Completed", anonymousId=f"w{i}", properties=props))
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    results = admin.get("/v1/experiments/hero-ab/results").json()
    arms = {a["arm"]: a for a in results["arms"]}
    assert arms["b"]["conversion"]["estimate"] > 0.8 > 0.2 > arms["a"]["conversion"]["estimate"]
    comparison = results["sequential"][0]
    assert comparison["significant"] is True
    assert comparison["difference"]["low"] > 0
    assert comparison["verdict"].startswith("b differs from a")


def test_targeting_by_a_segment_evaluates_the_segments_it_reads_live(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    segments = {
        "pros": {"condition": {"field": "traits.plan", "eq": "pro"}},
        "loyal": {"condition": {"and": [{"segment": "pros"}, {"field": "traits.visits", "gte": 3}]}},
        "elsewhere": {"condition": {"count": {"event": "Order Completed", "within_days": 7}, "gte": 1}},
    }
    place = {
        "channel": "web",
        "slot": "hero",
        "variants": [
            {"id": "loyal", "when": {"segment": "loyal"}, "priority": 5, "content": {"text": "Loyal"}},
            {"id": "plain", "content": {"text": "Plain"}},
        ],
        "fallback": "plain",
    }
    assert (
        admin.put("/v1/definitions", json={"segments": segments, "placements": {"hero": place}}).status_code
        == 200
    )
    people = {
        "ann": {"plan": "pro", "visits": 5},
        "bob": {"plan": "free", "visits": 9},
        "cat": {"plan": "pro"},
    }
    events = [identify(u, traits=t, context=CONSENT) for u, t in people.items()]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    shown = {u: admin.post("/v1/decide", json={"placement": "hero", "user_id": u}).json() for u in people}
    assert shown["ann"]["variant"] == "loyal"  # loyal reads pros, which is evaluated with it
    assert shown["ann"]["reason"].endswith("targeted: loyal matches segment loyal")
    assert shown["bob"]["variant"] == "plain"
    assert shown["cat"]["variant"] == "plain"
