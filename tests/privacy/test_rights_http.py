"""Export and erasure of one person over HTTP, on both stores: every table, the
tombstones that keep a replay out (counted, and stored only as keyed hashes), the
worker's generation, and an objection that takes effect within a second."""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from surmesure.privacy.registry import HANDLERS

from builders import batch, identify, page, track
from conftest import LiveServer

CONSENT = {"consent": {"categoryPreferences": {"personalization": True, "marketing": True}}}
BANNER: dict[str, Any] = {
    "channel": "web",
    "slot": "banner",
    "variants": [{"id": "hello", "template": "Hello {{ profile.traits.name | default('there') }}"}],
    "caps": [{"scope": "person", "max": 5, "within_hours": 24}],
}


def _life(user: str, anon: str, email: str) -> list[dict[str, Any]]:
    return [
        page(anonymousId=anon, properties={"title": "Home"}),
        track("Product Viewed", anonymousId=anon, properties={"product_id": "p-1", "category": "Shoes"}),
        identify(
            user,
            anonymousId=anon,
            traits={"email": email, "name": "Zoé Canary", "crm_id": f"crm-{user}"},
            context={**CONSENT, "device": {"id": f"device-{user}"}},
        ),
        track(
            "Order Completed", userId=user, properties={"revenue": 42, "products": [{"product_id": "p-1"}]}
        ),
    ]


def _plant(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> list[dict[str, Any]]:
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    events = _life("zoe-42", "zoe-anon", "Zoe@Example.com")
    assert client.post("/v1/batch", json=batch(*events[:2])).json()["accepted"] == 2
    server.wait_pipeline()  # an anonymous profile first, merged when she signs in
    assert client.post("/v1/batch", json=batch(*events[2:])).json()["accepted"] == 2
    # a refused event naming her (no event name) goes to quarantine with her ids
    refused = client.post("/v1/batch", json=batch({"type": "track", "userId": "zoe-42", "messageId": "q-1"}))
    assert refused.json()["error"]["details"]["quarantined"] is True
    # and someone else, who must stay
    assert (
        client.post("/v1/batch", json=batch(*_life("max-7", "max-anon", "max@example.com"))).status_code
        == 200
    )
    server.wait_pipeline()
    decided = admin.post("/v1/decide", json={"placement": "banner", "user_id": "zoe-42"})
    assert decided.status_code == 200, decided.text
    return events


def test_export_holds_everything_linked_to_the_person(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    _plant(server, client, admin)
    response = admin.get("/v1/profiles/zoe@example.com/export")
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["format"] == "surmesure.export/1"
    assert export["profile"]["traits"]["name"] == "Zoé Canary"
    tables = export["tables"]
    assert set(tables) == {t for h in HANDLERS for t in h.tables}  # every covered table, even empty
    assert len(tables["events"]) == 4
    assert all(e["body"].get("userId") in (None, "zoe-42") for e in tables["events"])
    assert [q["message_id"] for q in tables["event_quarantine"]] == ["q-1"]
    assert {i["key"] for i in tables["identifiers"]} >= {"user_id:zoe-42", "anonymous_id:zoe-anon"}
    assert len(tables["profiles"]) >= 1
    assert tables["profile_merges"], "the anonymous history was merged"
    assert len(tables["decisions"]) == 1
    # nothing of anyone else
    assert "max-7" not in response.text
    assert "max-anon" not in response.text
    # the same through every identifier; an unknown person is a 404; the secret key is needed
    assert admin.get("/v1/profiles/zoe-anon/export").json()["tables"]["events"] == tables["events"]
    missing = admin.get("/v1/profiles/nobody-here/export")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "privacy.person_not_found"
    assert client.get("/v1/profiles/zoe-42/export").status_code in (401, 403)


def _count(engine: sa.Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_erasure_reaches_every_table_and_survives_a_replay(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    events = _plant(server, client, admin)
    engine = server.services.engine
    with engine.connect() as conn:
        generation = conn.execute(sa.text("SELECT value FROM profiles_state")).scalar_one()
    assert client.delete("/v1/profiles/zoe-42").status_code in (401, 403)

    erased = admin.delete("/v1/profiles/zoe-42", params={"type": "user_id"})
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["rows"]["events"] == 4
    assert report["rows"]["event_quarantine"] == 1
    assert report["rows"]["decisions"] == 1
    assert report["rows"]["profiles"] >= 1
    assert set(report["rows"]) == {t for h in HANDLERS for t in h.tables}
    assert report["tombstones"] >= 3  # user id, anonymous id, email

    for ident in ("zoe-42", "zoe-anon", "zoe@example.com"):
        assert admin.get(f"/v1/profiles/{ident}").status_code == 404
        assert admin.get(f"/v1/profiles/{ident}/export").status_code == 404
    assert admin.delete("/v1/profiles/zoe-42").status_code == 404
    for table, column in (("events", "body"), ("event_quarantine", "raw"), ("identifiers", "key"),
                          ("identity_links", "key_a"), ("identity_links", "key_b"), ("decisions", "person"),
                          ("profile_merges", "kept_keys"), ("profiles", "traits")):  # fmt: skip
        assert _count(engine, f"SELECT count(*) FROM {table} WHERE {column} LIKE '%zoe%'") == 0, table
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM profiles_state")).scalar_one() > generation
    # the other person is untouched
    assert admin.get("/v1/profiles/max-7").json()["features"]["event_counts"]["track:Order Completed"] == 1

    # a replay of her old events: counted, quarantined with a stable code, not stored
    replay = client.post("/v1/batch", json=batch(*events, track("Product Viewed", anonymousId="new-visitor")))
    assert replay.status_code == 200, replay.text
    result = replay.json()
    assert result["received"] == result["accepted"] + result["duplicates"] + result["quarantined"]
    assert result["accepted"] == 1
    assert result["quarantined"] == 4
    assert {e["code"] for e in result["errors"]} == {"events.erased_identity"}
    one = client.post("/v1/track", json=track("Product Viewed", userId="zoe-42"))
    assert one.status_code == 400
    assert one.json()["error"]["code"] == "events.erased_identity"
    assert one.json()["error"]["details"]["quarantined"] is True
    # an event carrying only her email, under a new anonymous id, is refused too
    by_email = client.post("/v1/batch", json=batch(identify("zoe-new", traits={"email": "ZOE@example.com"})))
    assert by_email.json()["error"]["code"] == "events.erased_identity"
    # so is one carrying only her CRM id, or only her device
    by_crm = client.post("/v1/batch", json=batch(identify("zoe-crm", traits={"crm_id": "crm-zoe-42"})))
    assert by_crm.json()["error"]["code"] == "events.erased_identity"
    by_device = client.post(
        "/v1/batch", json=batch(page(anonymousId="fresh", context={"device": {"id": "device-zoe-42"}}))
    )
    assert by_device.json()["error"]["code"] == "events.erased_identity"
    server.wait_pipeline()
    assert admin.get("/v1/profiles/zoe-42").status_code == 404
    assert admin.get("/v1/profiles/zoe-new").status_code == 404
    assert _count(engine, "SELECT count(*) FROM event_quarantine WHERE code = 'events.erased_identity'") == 8
    # the quarantine keeps keyed hashes, never her identifiers
    assert _count(engine, "SELECT count(*) FROM event_quarantine WHERE lower(raw) LIKE '%zoe%'") == 0
    assert _count(engine, "SELECT count(*) FROM privacy_tombstones WHERE hash LIKE '%zoe%'") == 0


def test_an_objection_takes_effect_within_a_second(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    client.post("/v1/batch", json=batch(identify("ola", traits={"name": "Ola"}, context=CONSENT)))
    server.wait_pipeline()
    assert admin.post("/v1/decide", json={"placement": "banner", "user_id": "ola"}).json()["personalized"]
    objection = {"consent": {"categoryPreferences": {"personalization": False, "marketing": False}}}
    sent = time.monotonic()
    assert client.post("/v1/identify", json=identify("ola", context=objection)).status_code == 200
    while True:
        consent = admin.get("/v1/profiles/ola").json()["consent"]
        if not consent["personalization"]["allowed"] and not consent["marketing"]["allowed"]:
            break
        assert time.monotonic() - sent < 1.0, "the objection was not applied within 1 s"
        time.sleep(0.02)
    # decisions read that consent: nothing personalized from then on
    assert not admin.post("/v1/decide", json={"placement": "banner", "user_id": "ola"}).json()["personalized"]
