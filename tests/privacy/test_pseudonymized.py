"""Pseudonymized mode and data minimization (``[privacy]``), over HTTP on both stores:
events planted with distinctive raw identifiers leave none of them in any table or
file; look-ups by raw identifier still find the person; undeclared fields are dropped
and declared ones kept; a rotated key still finds what the older one made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from surmesure.config import Settings
from surmesure.consent.pseudonym import Pseudonymizer, is_pseudonym
from surmesure.errors import ConfigError
from surmesure.privacy.verify import scan_files, scan_tables, verify_erasure
from surmesure.recommendations.training import train

from builders import batch, identify, item, page, track
from conftest import SECRET_KEY, LiveServer, make_settings

#: every personal string planted below holds this token; a pseudonym (base32) cannot
TOKEN = "zoe-raw"
USER, ANON, PREVIOUS = f"{TOKEN}-user", f"{TOKEN}-anon", f"{TOKEN}-previous"
EMAIL, CTX_EMAIL, CRM, DEVICE = (
    f"Zoe.{TOKEN}@Example.com",
    f"{TOKEN}-ctx@example.com",
    f"{TOKEN}-crm",
    f"{TOKEN}-device",
)
CONSENT = {"categoryPreferences": {"analytics": True, "personalization": True, "marketing": True}}
MINIMIZE = {"properties": ["color"], "traits": ["plan"], "context": ["locale", "page.path"]}
BANNER: dict[str, Any] = {
    "channel": "web",
    "slot": "banner",
    "variants": [{"id": "hello", "template": "Hello {{ profile.traits.plan | default('there') }}"}],
}


def _settings(tmp_path: Path, store_url: str, **privacy: Any) -> Settings:
    return make_settings(
        tmp_path / "data", store_url, privacy={"pseudonymize": True, "minimize": MINIMIZE, **privacy}
    )


def _life() -> list[dict[str, Any]]:
    context = {
        "consent": CONSENT,
        "ip": "203.0.113.77",
        "locale": "fr-FR",
        "userAgent": f"{TOKEN}-agent",
        "device": {"id": DEVICE, "model": f"{TOKEN}-model"},
        "page": {"path": "/shop", "referrer": f"https://{TOKEN}.example/"},
    }
    return [
        page(anonymousId=ANON, context=context, properties={"title": f"{TOKEN}-title"}),
        track(
            "Product Viewed",
            anonymousId=ANON,
            properties={"product_id": "s1", "color": "red-kept", "note": f"{TOKEN}-note"},
            context=context,
        ),
        identify(
            USER,
            anonymousId=ANON,
            traits={"email": EMAIL, "crm_id": CRM, "plan": "gold-kept", "phone": f"{TOKEN}-phone"},
            context=context,
        ),
        # RudderStack's libraries send identify traits in context.traits
        page(userId=USER, context={"consent": CONSENT, "traits": {"email": CTX_EMAIL, "nick": TOKEN}}),
        track(
            "Order Completed",
            userId=USER,
            properties={"order_id": "o-1", "revenue": 42, "products": [{"product_id": "s1"}], "x": TOKEN},
        ),
        {"type": "alias", "messageId": "alias-1", "userId": USER, "previousId": PREVIOUS},
    ]


def _plant(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    assert admin.put("/v1/items", json={"items": [item(f"s{i}") for i in range(4)]}).status_code == 200
    answer = client.post("/v1/batch", json=batch(*_life())).json()
    assert answer["accepted"] == 6, answer
    # refused items: one event (no event name), and a body that is no batch at all
    refused = {"type": "track", "messageId": "q-1", "userId": USER, "traits": {"email": EMAIL}}
    assert client.post("/v1/batch", json=batch(refused)).status_code == 400
    assert client.post("/v1/batch", json={"batch": f"{TOKEN}-not-a-list"}).status_code in (400, 422)
    server.wait_pipeline()


def _bodies(server: LiveServer) -> list[dict[str, Any]]:
    with server.services.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT body FROM events ORDER BY seq")).scalars().all()
    return [orjson.loads(r) for r in rows]


def _nothing_raw(server: LiveServer) -> None:
    needles = [TOKEN, "203.0.113.77"]
    assert scan_tables(server.services.engine, needles) == {}
    assert scan_files([server.settings.data_dir], needles) == {}


@pytest.fixture
def pseudonymized(tmp_path: Path, store_url: str) -> Any:
    with LiveServer(_settings(tmp_path, store_url)) as live:
        yield live


def test_the_store_holds_no_raw_identifier_and_raw_lookups_work(pseudonymized: LiveServer) -> None:
    server = pseudonymized
    with server.client() as client, server.client(SECRET_KEY) as admin:
        _plant(server, client, admin)
        _nothing_raw(server)

        bodies = _bodies(server)
        assert all(is_pseudonym(b.get("userId", "p1:" + "a" * 26)) for b in bodies)
        assert all(is_pseudonym(b.get("anonymousId", "p1:" + "a" * 26)) for b in bodies)
        identify_body = next(b for b in bodies if b["type"] == "identify")
        assert set(identify_body["traits"]) == {"email", "crm_id", "plan"}
        assert identify_body["traits"]["plan"] == "gold-kept"
        assert is_pseudonym(identify_body["traits"]["email"])
        assert is_pseudonym(identify_body["traits"]["crm_id"])
        assert set(identify_body["context"]) == {"consent", "ip", "locale", "device", "page"}
        assert identify_body["context"]["ip"] == "203.0.113.0"  # the IP minimization, as without
        assert identify_body["context"]["page"] == {"path": "/shop"}
        assert list(identify_body["context"]["device"]) == ["id"]
        viewed = next(b for b in bodies if b.get("event") == "Product Viewed")
        assert viewed["properties"] == {"product_id": "s1", "color": "red-kept"}
        ordered = next(b for b in bodies if b.get("event") == "Order Completed")
        assert set(ordered["properties"]) == {"order_id", "revenue", "products"}
        ctx_page = next(b for b in bodies if b["type"] == "page" and "traits" in b.get("context", {}))
        assert list(ctx_page["context"]["traits"]) == ["email"]
        with server.services.engine.connect() as conn:
            quarantined = conn.execute(sa.text("SELECT code, reason, raw FROM event_quarantine")).all()
        assert {q.code for q in quarantined} == {"events.missing_field", "events.invalid_batch"}
        assert all(q.reason for q in quarantined)  # the reasons stay
        kept = next(orjson.loads(q.raw) for q in quarantined if q.code == "events.missing_field")
        assert is_pseudonym(kept["userId"])
        assert is_pseudonym(kept["traits"]["email"])

        # the person is found by every raw identifier, as without pseudonyms
        profile = admin.get(f"/v1/profiles/{USER}")
        assert profile.status_code == 200, profile.text
        pid = profile.json()["profile_id"]
        assert profile.json()["traits"]["plan"] == "gold-kept"
        assert all(is_pseudonym(i["value"]) for i in profile.json()["identifiers"])
        for raw in (ANON, PREVIOUS, EMAIL, EMAIL.upper(), CTX_EMAIL, f"crm_id:{CRM}", f"device_id:{DEVICE}"):
            found = admin.get(f"/v1/profiles/{raw}")
            assert found.status_code == 200, (raw, found.text)
            assert found.json()["profile_id"] == pid, raw
        # and by the pseudonym itself, as shown in the profile
        shown = profile.json()["identifiers"][0]
        assert admin.get(f"/v1/profiles/{shown['type']}:{shown['value']}").json()["profile_id"] == pid
        events = admin.get(f"/v1/profiles/{EMAIL}/events").json()["events"]
        assert len(events) == 6
        train(server.services.engine, server.settings)  # on pseudonymized events
        server.services.capabilities["recommendations"].reload()
        recommended = admin.get("/v1/recommendations", params={"user_id": USER, "k": 3})
        assert recommended.status_code == 200, recommended.text
        assert recommended.json()["personalized"]  # the person and their consent were found
        assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
        decided = admin.post("/v1/decide", json={"placement": "banner", "user_id": USER})
        assert decided.status_code == 200, decided.text
        assert "gold-kept" in decided.text  # the person's declared trait, found by their raw id
        _nothing_raw(server)

        exported = admin.get(f"/v1/profiles/{EMAIL}/export")
        assert exported.status_code == 200, exported.text
        assert len(exported.json()["tables"]["events"]) == 6
        assert TOKEN not in orjson.dumps(exported.json()["tables"]).decode()  # the request is echoed
        erased = admin.delete(f"/v1/profiles/{USER}", params={"type": "user_id"})
        assert erased.status_code == 200, erased.text
        assert admin.get(f"/v1/profiles/{EMAIL}").status_code == 404
        # a replay is refused: the tombstones name the pseudonyms the collection makes
        again = client.post("/v1/batch", json=batch(identify(USER, traits={"email": EMAIL})))
        assert again.json()["error"]["code"] == "events.erased_identity"
        by_email = client.post("/v1/batch", json=batch(identify("zoe-new", traits={"email": EMAIL.upper()})))
        assert by_email.json()["error"]["code"] == "events.erased_identity"


def test_verify_erasure_passes_in_pseudonymized_mode(pseudonymized: LiveServer) -> None:
    report = verify_erasure(pseudonymized.services, timeout_s=60)
    assert report["ok"], report
    assert report["replay"]["codes"] == ["events.erased_identity"]
    assert report["erasure"]["rows"]["event_quarantine"] == 1  # the refused canary, by its pseudonyms


def test_a_rotated_key_still_finds_what_the_older_one_made(tmp_path: Path, store_url: str) -> None:
    first = _settings(tmp_path, store_url)
    with LiveServer(first) as server, server.client() as client:
        assert (
            client.post("/v1/batch", json=batch(identify(USER, traits={"email": EMAIL}))).status_code == 200
        )
        server.wait_pipeline()
    rotated = _settings(
        tmp_path, store_url, pseudonym_version=2, pseudonym_keys={2: "a-new-pseudonym-key-of-version-2"}
    )
    with LiveServer(rotated) as server, server.client() as client, server.client(SECRET_KEY) as admin:
        old = admin.get(f"/v1/profiles/{EMAIL}")
        assert old.status_code == 200, old.text
        assert {i["value"][:3] for i in old.json()["identifiers"]} == {"p1:"}
        assert client.post("/v1/track", json=track(anonymousId=ANON)).status_code == 200
        server.wait_pipeline()
        assert _bodies(server)[-1]["anonymousId"].startswith("p2:")
        assert admin.get(f"/v1/profiles/{ANON}").status_code == 200
        _nothing_raw(server)


def test_the_pseudonymizer_is_off_by_default_and_a_version_needs_its_key(tmp_path: Path) -> None:
    plain = make_settings(tmp_path, "sqlite://")
    assert Pseudonymizer.from_settings(plain) is None  # nothing changes: events kept as sent
    minimized = make_settings(tmp_path, "sqlite://", privacy={"minimize": {"traits": []}})
    only = Pseudonymizer.from_settings(minimized)
    assert only is not None
    assert not only.keys
    body = {"userId": "u", "traits": {"email": "a@b.c", "name": "Zoé", "crm_id": 3}}
    assert only.event(body) == {"userId": "u", "traits": {"email": "a@b.c", "crm_id": 3}}
    rotated = make_settings(tmp_path, "sqlite://", privacy={"pseudonymize": True, "pseudonym_version": 2})
    with pytest.raises(ConfigError, match="no key for it"):
        Pseudonymizer.from_settings(rotated)


def test_collection_copies_what_it_changes_and_keeps_placeholders(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", privacy={"pseudonymize": True})
    ps = Pseudonymizer.from_settings(settings)
    assert ps is not None
    shared = {"traits": {"email": "Zoe@Example.com"}, "device": {"id": "d-1"}}
    first = ps.event({"userId": "null", "anonymousId": "a-1", "context": shared})
    second = ps.event({"anonymousId": "a-1", "context": shared})
    assert shared == {"traits": {"email": "Zoe@Example.com"}, "device": {"id": "d-1"}}  # a batch's context
    assert first["userId"] == "null"  # a placeholder names nobody: never hashed into an identifier
    assert first["context"] == second["context"]
    assert first["context"]["traits"]["email"] == ps.email_lookups("zoe@example.com ")[0]
    assert first["anonymousId"] == ps.lookups("a-1")[0] == ps.hash("a-1")
