"""Protected attributes (audit.protected) are audited, never used for targeting: a
segment, a placement or a document whose rule reads one is refused with
``segments.protected_attribute`` and nothing is written; other traits still work."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from surmesure.config import Settings

from conftest import LiveServer, make_settings


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(
        tmp_path / "data", store_url, audit={"protected": ["traits.gender", "traits.age_band"]}
    )


def _refused(response: httpx.Response, attribute: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "segments.protected_attribute"
    assert error["details"]["attribute"] == attribute


def test_a_segment_on_a_protected_attribute_is_refused(server: LiveServer, admin: httpx.Client) -> None:
    _refused(
        admin.put("/v1/segments/women", json={"condition": {"field": "traits.gender", "eq": "f"}}),
        "traits.gender",
    )
    nested = {
        "condition": {
            "and": [{"consent": "marketing"}, {"not": {"field": "traits.age_band", "in": ["18-24"]}}]
        }
    }
    _refused(admin.put("/v1/segments/young", json=nested), "traits.age_band")
    score = {"kind": "score", "rules": [{"when": {"field": "traits.gender", "eq": "m"}, "points": 5}]}
    _refused(admin.put("/v1/segments/s", json=score), "traits.gender")
    counted = {
        "condition": {
            "count": {"event": "Signed Up", "where": {"context.traits.gender": {"eq": "f"}}},
            "gte": 1,
        }
    }
    _refused(admin.put("/v1/segments/c", json=counted), "traits.gender")
    assert admin.get("/v1/segments/women").status_code == 404
    fine = admin.put("/v1/segments/pro", json={"condition": {"field": "traits.plan", "eq": "pro"}})
    assert fine.status_code == 200
    # a longer name that merely starts the same is not the attribute
    assert (
        admin.put(
            "/v1/segments/g", json={"condition": {"field": "traits.gender_pref", "eq": "x"}}
        ).status_code
        == 200
    )


def test_a_placement_or_document_targeting_a_protected_attribute_is_refused(
    server: LiveServer, admin: httpx.Client
) -> None:
    placement = {
        "channel": "web",
        "slot": "hero",
        "variants": [
            {"id": "offer", "when": {"field": "traits.gender", "eq": "m"}, "content": {"t": "job"}},
            {"id": "plain", "content": {"t": "hi"}},
        ],
        "fallback": "plain",
    }
    response = admin.put("/v1/placements/careers", json=placement)
    _refused(response, "traits.gender")
    assert response.json()["error"]["details"]["placement"] == "careers"
    assert admin.get("/v1/placements/careers").status_code == 404

    document = {
        "segments": {"women": {"condition": {"field": "traits.gender", "eq": "f"}}},
        "placements": {
            "careers": {**placement, "variants": [{"id": "plain", "content": {"t": "hi"}}], "fallback": None}
        },
    }
    _refused(admin.put("/v1/definitions", json=document), "traits.gender")
    assert admin.get("/v1/segments/women").status_code == 404
    assert admin.get("/v1/placements/careers").status_code == 404

    by_age = {
        **placement,
        "variants": [
            {**placement["variants"][0], "when": {"field": "traits.age_band", "eq": "65+"}},
            placement["variants"][1],
        ],
    }
    _refused(admin.put("/v1/definitions", json={"placements": {"careers": by_age}}), "traits.age_band")
    fine = {
        **placement,
        "variants": [
            {**placement["variants"][0], "when": {"field": "traits.plan", "eq": "pro"}},
            placement["variants"][1],
        ],
    }
    assert admin.put("/v1/placements/careers", json=fine).status_code == 200
    experiment = {
        "placement": "careers",
        "arms": [{"name": "a", "variant": "offer"}, {"name": "b", "variant": "plain"}],
    }
    assert admin.put("/v1/experiments/exp", json=experiment).status_code == 200
