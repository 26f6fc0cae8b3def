"""Consent at decision time, over HTTP: without consent to personalization (refused, or
never given under the default ``consent`` basis) the person's history is not used and
the answer says why; granting it makes the next answer personal."""

from __future__ import annotations

from typing import Any

import httpx
from recshop import CONSENTED, HATS, ready

from surmesure.recommendations.service import NO_CONSENT

from builders import batch, track
from conftest import LiveServer

REFUSED: dict[str, Any] = {"consent": {"categoryPreferences": {"personalization": False}}}


def _views(person: str, items: list[str], context: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [
        track("Product Viewed", userId=person, properties={"product_id": i}, context=context) for i in items
    ]


def _home(http: httpx.Client, **who: str) -> dict[str, Any]:
    response = http.get("/v1/recommendations", params={"k": 5, **who})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_no_consent_no_personal_answer(server: LiveServer, admin: httpx.Client) -> None:
    ready(server, admin)
    nobody = _home(admin)
    assert not nobody["personalized"]
    assert nobody["reason"] == "no person named"
    events = _views("refuser", HATS[:4], REFUSED) + _views("silent", HATS[:4], None)
    events += _views("granter", HATS[:4], CONSENTED)
    assert admin.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()

    granted = _home(admin, user_id="granter")
    assert granted["personalized"]
    assert granted["reason"] is None
    assert {e["id"] for e in granted["items"]} <= set(HATS)

    for person in ("refuser", "silent"):
        body = _home(admin, user_id=person)
        assert not body["personalized"]
        assert body["reason"] == NO_CONSENT
        # the answer of nobody in particular: the viewed hats are not used, not even in reasons
        assert [e["id"] for e in body["items"]] == [e["id"] for e in nobody["items"]]
        assert not any(e["reason"].get("item_id") in HATS[:4] for e in body["items"])

    # a later choice wins: the refuser grants, and the next answer is personal
    grant = track(
        "Consent Updated", userId="refuser", properties={"personalization": True}, context=CONSENTED
    )
    assert admin.post("/v1/track", json=grant).status_code == 200
    assert _home(admin, user_id="refuser")["personalized"]


def test_an_anonymous_visitor_without_consent_gets_the_general_answer(
    server: LiveServer, admin: httpx.Client, client: httpx.Client
) -> None:
    ready(server, admin)
    view = track("Product Viewed", anonymousId="shy", properties={"product_id": "h3"})
    assert client.post("/v1/track", json=view).status_code == 200
    body = _home(client, anonymous_id="shy")
    assert not body["personalized"]
    assert body["reason"] == NO_CONSENT
