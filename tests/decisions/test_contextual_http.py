"""A contextual bandit on a placement, over HTTP on both stores: it learns from the
logged feedback after the minute's refresh which arm pays for which people, logs every
decision with bounded propensities and the vector it decided on, falls back to no
profile features without consent, and bad feature lists are refused with a code by
``PUT /v1/experiments``, ``PUT /v1/definitions`` and ``surmesure apply``.

The server runs on a ``FixedClock``: moving it past the minute is what makes the
policy rebuild from the feedback (the production interval, not a shortcut)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from surmesure.clock import FixedClock
from surmesure.config import Settings
from surmesure.decisions import store

from builders import batch, identify, track
from conftest import SECRET_KEY, LiveServer, make_settings


def run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``surmesure`` in a process of its own, with only these SURMESURE_ settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    environment.update(env)
    command = [sys.executable, "-m", "surmesure.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
FLOOR, CEILING = 0.05, 0.95
FEATURES: list[Any] = ["segments.vip", {"field": "features.monetary", "transform": "log1p"}]
NAMES = ["intercept", "segments.vip", "log1p(features.monetary)"]


def document(kind: str) -> dict[str, Any]:
    return {
        "segments": {"vip": {"condition": {"field": "traits.vip", "eq": True}}},
        "placements": {
            "hero": {
                "channel": "web",
                "slot": "hero",
                "variants": [
                    {"id": "gold", "content": {"text": "Gold"}},
                    {"id": "basic", "content": {"text": "Hi"}},
                ],
            }
        },
        "experiments": {
            "hero-ctx": {
                "placement": "hero",
                "kind": kind,
                "arms": [{"name": "a", "variant": "gold"}, {"name": "b", "variant": "basic"}],
                "floor": FLOOR,
                "ceiling": CEILING,
                "features": FEATURES,
            }
        },
    }


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def server(settings: Settings, clock: FixedClock) -> Iterator[LiveServer]:
    with LiveServer(settings, clock=clock) as live:
        yield live


def _logged(server: LiveServer) -> dict[str, Any]:
    with server.services.engine.connect() as conn:
        rows = conn.execute(sa.select(store.decisions)).all()
    return {r.decision_id: r for r in rows}


def _decide(client: httpx.Client, user: str) -> dict[str, Any]:
    response = client.post("/v1/decide", json={"placement": "hero", "user_id": user})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _people(client: httpx.Client, server: LiveServer, n: int) -> dict[str, bool]:
    """``n`` VIPs and ``n`` others, all consenting to personalization."""
    people = {f"vip-{i}": True for i in range(n)} | {f"std-{i}": False for i in range(n)}
    events = [identify(u, traits={"vip": vip}, context=CONSENT) for u, vip in people.items()]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    return people


@pytest.mark.parametrize("kind", ["linear_thompson", "lin_ucb"])
def test_the_contextual_bandit_learns_which_arm_pays_for_whom(
    server: LiveServer, client: httpx.Client, admin: httpx.Client, clock: FixedClock, kind: str
) -> None:
    applied = admin.put("/v1/definitions", json=document(kind))
    assert applied.status_code == 200, applied.text
    people = _people(client, server, 25)
    rng = np.random.default_rng(20261123)  # the simulated population: A pays for VIPs, B for the others

    def pays(vip: bool, arm: str) -> bool:
        return bool(rng.random() < (0.7 if (arm == "a") == vip else 0.05))

    # before any feedback: no preference, every arm at 1/2 (LinTS: up to its Monte-Carlo error)
    events = []
    for _ in range(2):
        for user, vip in people.items():
            answer = _decide(admin, user)
            assert answer["experiment"]["probabilities"]["a"] == pytest.approx(0.5, abs=0.05)
            props = {"decision_id": answer["decision_id"]}
            events.append(track("Placement Viewed", userId=user, properties=props))
            if pays(vip, answer["experiment"]["arm"]):
                events.append(track("Placement Clicked", userId=user, properties=props))
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()
    # within the minute the policy is the one it was; past it, rebuilt from the feedback
    assert _decide(admin, "vip-0")["experiment"]["probabilities"]["a"] == pytest.approx(0.5, abs=0.05)
    clock.advance(seconds=61)

    right = {True: 0, False: 0}
    answers = []
    for user, vip in people.items():
        answer = _decide(admin, user)
        answers.append((answer, vip))
        right[vip] += answer["experiment"]["arm"] == ("a" if vip else "b")
        best = answer["experiment"]["probabilities"]["a" if vip else "b"]
        assert best == pytest.approx(CEILING), (user, answer["experiment"])  # the bound, not more
    # chance is 1/2; with the right arm at 0.95, fewer than 20 of 25 has probability < 1e-6
    assert right[True] >= 20
    assert right[False] >= 20

    logged = _logged(server)
    for answer, vip in answers:
        row = logged[answer["decision_id"]]
        assert row.bandit["features"] == NAMES
        assert row.bandit["x"] == [1.0, 1.0 if vip else 0.0, 0.0]  # segment membership 0/1, no orders
        assert row.propensity == pytest.approx(row.bandit["probabilities"][row.arm])
        assert f"chosen by {'LinUCB' if kind == 'lin_ucb' else 'linear Thompson sampling'}" in row.reason
        assert "on the person's features" in row.reason
    for row in logged.values():
        probabilities = row.bandit["probabilities"]
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert all(FLOOR - 1e-9 <= p <= CEILING + 1e-9 for p in probabilities.values())


def test_without_consent_no_profile_feature_is_used_and_the_answer_says_so(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/definitions", json=document("linear_thompson")).status_code == 200
    events = [
        identify("kim", traits={"vip": True}),  # no choice made: personalization needs consent
        identify("lea", traits={"vip": True}, context=CONSENT),
    ]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()

    kim = _decide(admin, "kim")
    assert kim["personalized"] is False
    assert kim["reason"].startswith("no consent for personalization")
    assert "without profile features (no consent)" in kim["reason"]
    refused = admin.post(
        "/v1/decide",
        json={"placement": "hero", "user_id": "lea", "context": {"consent": {"personalization": False}}},
    ).json()
    assert refused["personalized"] is False
    assert "without profile features" in refused["reason"]
    lea = _decide(admin, "lea")
    assert lea["personalized"] is True
    stranger = {"placement": "hero", "anonymous_id": "stranger", "context": CONSENT}  # consents, unknown
    unknown = client.post("/v1/decide", json=stranger).json()

    logged = _logged(server)
    assert logged[kim["decision_id"]].bandit["x"] == [1.0, 0.0, 0.0]
    assert logged[refused["decision_id"]].bandit["x"] == [1.0, 0.0, 0.0]
    assert logged[lea["decision_id"]].bandit["x"] == [1.0, 1.0, 0.0]  # the same person, with consent
    assert logged[unknown["decision_id"]].bandit["x"] == [1.0, 0.0, 0.0]
    assert "on an unknown visitor's features (all 0)" in unknown["reason"]
    for answer in (kim, refused, lea, unknown):
        row = logged[answer["decision_id"]]
        assert row.personalized is answer["personalized"]
        assert answer["experiment"]["arm"] in ("a", "b")
        assert row.propensity == answer["propensity"] == answer["experiment"]["probabilities"][row.arm]


BAD: list[tuple[dict[str, Any], str]] = [
    ({"features": ["context.page.url"]}, "decisions.invalid_features"),
    ({"features": ["features.rfm.frequency"]}, "decisions.invalid_features"),
    ({"features": ["features.event_counts"]}, "decisions.invalid_features"),
    ({"features": [f"traits.t{i}" for i in range(21)]}, "decisions.invalid_features"),
    ({"features": []}, "decisions.invalid_features"),
    ({"kind": "ab"}, "decisions.invalid_features"),
    ({"features": ["segments.nobody"]}, "segments.unknown_segment"),
    ({"holdout_share": 0.2}, "decisions.invalid_experiment"),
    ({"ceiling": 0.3}, "decisions.invalid_experiment"),
]


@pytest.mark.parametrize(("change", "code"), BAD)
def test_bad_contextual_experiments_are_refused_with_a_code_by_both_ways(
    admin: httpx.Client, change: dict[str, Any], code: str
) -> None:
    good = document("lin_ucb")
    assert admin.put("/v1/definitions", json=good).status_code == 200
    bad = {**good["experiments"]["hero-ctx"], **change}
    one = admin.put("/v1/experiments/hero-ctx", json=bad)
    assert one.status_code == 422, one.text
    assert one.json()["error"]["code"] == code
    whole = admin.put("/v1/definitions", json={**good, "experiments": {"other": bad}})
    assert whole.status_code == 422, whole.text
    assert whole.json()["error"]["code"] == code
    assert admin.put("/v1/experiments/other", json=good["experiments"]["hero-ctx"]).status_code == 200


def test_surmesure_apply_refuses_a_bad_feature_list_and_writes_nothing(tmp_path: Path) -> None:
    doc = document("linear_thompson")
    doc["experiments"]["hero-ctx"]["features"] = ["segments.vip", "features.event_counts"]
    path = tmp_path / "defs.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = {"SURMESURE_STORE__URL": f"sqlite:///{tmp_path / 's.db'}"}
    done = run(tmp_path, "apply", str(path), env=env)
    assert done.returncode == 2, done.stderr
    assert "decisions.invalid_features" in done.stderr
    assert "features.1" in done.stderr
    engine = sa.create_engine(env["SURMESURE_STORE__URL"])
    with engine.connect() as conn:
        stored = "segments" in sa.inspect(conn).get_table_names()
        written = conn.execute(sa.text("select count(*) from segments")).scalar() if stored else 0
    engine.dispose()
    assert written == 0  # validated first: the document's segment was not written either
    doc["experiments"]["hero-ctx"]["features"] = FEATURES
    path.write_text(yaml.safe_dump(doc))
    done = run(tmp_path, "apply", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["experiments"] == {"hero-ctx": 1}


def test_a_protected_attribute_is_never_a_feature(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path / "data", store_url, audit={"protected": ["traits.gender"]})
    with LiveServer(settings) as live, live.client(None) as http:
        http.headers["Authorization"] = f"Bearer {SECRET_KEY}"
        good = document("lin_ucb")
        assert http.put("/v1/definitions", json=good).status_code == 200
        for feature in ("traits.gender", {"field": "traits.gender.code", "eq": "f"}):
            bad = {**good["experiments"]["hero-ctx"], "features": ["segments.vip", feature]}
            whole = {"experiments": {"x": bad}}
            for path, body in (("/v1/experiments/hero-ctx", bad), ("/v1/definitions", whole)):
                response = http.put(path, json=body)
                assert response.status_code == 422, response.text
                error = response.json()["error"]
                assert error["code"] == "segments.protected_attribute"
                assert error["details"]["problems"][0]["path"] == "features.1"
