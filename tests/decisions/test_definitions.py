"""Configuration as code: ``surmesure apply FILE.yaml`` and ``PUT /v1/definitions`` give
the same stored definitions, applying twice changes nothing, and bad input is a 4xx
with a code, on both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import LiveServer, make_settings


def run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    environment.update(env)
    command = [sys.executable, "-m", "surmesure.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


DOCUMENT = """
segments:
  pros:
    condition: {field: traits.plan, eq: pro}
  loyal:
    condition: {and: [{segment: pros}, {field: features.orders, gte: 2}]}
placements:
  hero:
    channel: web
    slot: home-hero
    variants:
      - {id: loyal, priority: 20, when: {segment: loyal}, content: {text: Thanks for coming back}}
      - {id: pro, priority: 10, when: {segment: pros}, template: "Hi {{ profile.traits.name }}"}
      - {id: picks, recommend: {context: home, k: 4}}
      - {id: plain, content: {text: Welcome}}
    fallback: plain
    caps: [{scope: placement, max: 5, within_hours: 24}]
  footer:
    channel: email
    slot: footer
    variants: [{id: only, content: {text: bye}}]
experiments:
  hero-test:
    placement: hero
    arms: [{name: control, variant: plain}, {name: picks, variant: picks, weight: 2}]
    holdout_share: 0.1
"""


def _state(admin: httpx.Client) -> dict[str, Any]:
    segments = {
        s["id"]: admin.get(f"/v1/segments/{s['id']}").json()["definition"]
        for s in admin.get("/v1/segments").json()["segments"]
    }
    placements = {p: admin.get(f"/v1/placements/{p}").json() for p in ("hero", "footer")}
    return {"segments": segments, "placements": placements}


def test_apply_from_a_file_and_through_the_api_give_the_same_result(
    tmp_path: Path, server: LiveServer, admin: httpx.Client
) -> None:
    data = yaml.safe_load(DOCUMENT)
    first = admin.put("/v1/definitions", json=data)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "segments": {"pros": 1, "loyal": 1},
        "placements": {"hero": 1, "footer": 1},
        "experiments": {"hero-test": 1},
    }
    assert admin.put("/v1/definitions", json=data).json() == first.json()  # idempotent
    through_api = _state(admin)

    cli_store = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "defs.yaml"
    path.write_text(DOCUMENT)
    env = {"SURMESURE_STORE__URL": cli_store, "SURMESURE_IDENTITY__HASH_KEY": "test-identity-hash-key"}
    for _ in range(2):
        done = run(tmp_path, "apply", str(path), env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == first.json()
    settings = make_settings(tmp_path / "cli-data", cli_store)
    with (
        LiveServer(settings) as other,
        httpx.Client(base_url=other.url, headers=admin.headers, timeout=30) as other_admin,
    ):
        assert _state(other_admin) == through_api
        decided = other_admin.post("/v1/decide", json={"placement": "footer", "user_id": "x"}).json()
        assert decided["content"] == {"text": "bye"}


def test_a_bad_file_is_refused_by_the_cli_with_its_code(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("placements: !!python/object/apply:os.system ['touch canary']\n")
    env = {"SURMESURE_STORE__URL": f"sqlite:///{tmp_path / 's.db'}"}
    done = run(tmp_path, "apply", str(path), env=env)
    assert done.returncode == 2
    assert "decisions.invalid_document" in done.stderr
    assert not (tmp_path / "canary").exists()


PLACE = {"channel": "web", "slot": "s", "variants": [{"id": "a", "content": {"x": 1}}]}


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/placements/hero", {**PLACE, "channel": "sms"}, "decisions.invalid_placement"),
        (
            "/v1/placements/hero",
            {**PLACE, "variants": [{"id": "a", "content": {}, "template": "x"}]},
            "decisions.invalid_placement",
        ),
        (
            "/v1/placements/hero",
            {**PLACE, "variants": [{"id": "a", "template": "{% if %}"}]},
            "decisions.invalid_placement",
        ),
        ("/v1/placements/hero", {**PLACE, "fallback": "zzz"}, "decisions.invalid_placement"),
        ("/v1/placements/Bad%20Id", PLACE, "decisions.invalid_placement"),
        (
            "/v1/placements/hero",
            {**PLACE, "variants": [{"id": "a", "content": {}, "when": {"segment": "nope"}}]},
            "segments.unknown_segment",
        ),
        (
            "/v1/placements/hero",
            {**PLACE, "variants": [{"id": "a", "content": {}, "when": {"eval": "1"}}]},
            "segments.invalid_condition",
        ),
        (
            "/v1/placements/hero",
            {**PLACE, "caps": [{"scope": "person", "max": 1, "within_hours": 0}]},
            "decisions.invalid_placement",
        ),
        (
            "/v1/experiments/t",
            {"placement": "missing", "arms": [{"name": "a", "variant": "a"}]},
            "decisions.invalid_experiment",
        ),
        (
            "/v1/experiments/t",
            {"placement": "p", "arms": [{"name": "a", "variant": "zzz"}]},
            "decisions.invalid_experiment",
        ),
        (
            "/v1/experiments/t",
            {"placement": "p", "arms": [], "holdout_share": 1},
            "decisions.invalid_experiment",
        ),
        (
            "/v1/experiments/t",
            {"placement": "p", "arms": [{"name": "holdout", "variant": "a"}]},
            "decisions.invalid_experiment",
        ),
        ("/v1/definitions", {"journeys": {}}, "decisions.invalid_document"),
        ("/v1/definitions", [1, 2], "decisions.invalid_document"),
        ("/v1/definitions", {"placements": {"x": {**PLACE, "variants": []}}}, "decisions.invalid_placement"),
    ],
)
def test_bad_definitions_are_refused_with_a_code(
    admin: httpx.Client, path: str, body: Any, code: str
) -> None:
    assert admin.put("/v1/placements/p", json=PLACE).status_code == 200
    response = admin.put(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_bad_decide_requests(admin: httpx.Client, client: httpx.Client) -> None:
    admin.put("/v1/placements/p", json=PLACE)
    missing = admin.post("/v1/decide", json={"placement": "nope", "user_id": "u"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "decisions.placement_not_found"
    two = admin.post("/v1/decide", json={"placement": "p", "user_id": "u", "anonymous_id": "a"})
    assert two.status_code == 422
    assert two.json()["error"]["code"] == "decisions.invalid_request"
    extra = admin.post("/v1/decide", json={"placement": "p", "script": "x"})
    assert extra.status_code == 422
    assert extra.json()["error"]["code"] == "request.validation_failed"
    assert client.put("/v1/placements/p", json=PLACE).status_code == 403
    nobody = httpx.post(f"{admin.base_url}/v1/decide", json={"placement": "p"})
    assert nobody.status_code == 401
    anonymous = client.post("/v1/decide", json={"placement": "p"}).json()
    assert anonymous["variant"] == "a"
    assert anonymous["content"] == {"x": 1}
    assert anonymous["personalized"] is False
    assert anonymous["reason"].startswith("no person named")
