"""The consent API, the preference centre and "why am I seeing this", over the real
HTTP API on both stores: choices recorded through ingestion with time, source and legal
basis (declared purposes too); a write key acts only for its own visitor; an objection
made on the page reaches /v1/recommendations and /v1/decide within a second; forged
and expired links are refused with stable codes; one person never sees another's data;
the stricter choice wins across a merge; GPC; the why page lists reasons."""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from surmesure.preferences.links import link_key, sign

from builders import batch, identify, track
from conftest import SECRET_KEY, LiveServer, make_settings

_spec = importlib.util.spec_from_file_location(
    "recshop", Path(__file__).resolve().parents[1] / "recommendations" / "recshop.py"
)
assert _spec is not None
assert _spec.loader is not None
recshop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recshop)

PURPOSES = {
    "partners": {"basis": "consent", "title": "Partner offers", "description": "Offers from partners."}
}
BANNER: dict[str, Any] = {
    "channel": "web",
    "slot": "banner",
    "variants": [
        {"id": "hello", "template": "Hello {{ profile.traits.name | default('there') }}"},
        {"id": "plain", "content": {"text": "Plain"}},
    ],
    "fallback": "hello",
}
CONSENTED = {"consent": {"categoryPreferences": {"personalization": True, "marketing": True}}}


@pytest.fixture
def server(tmp_path: Path, store_url: str) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", store_url, consent={"purposes": PURPOSES})
    with LiveServer(settings) as live:
        yield live


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _purposes(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["purpose"]: p for p in body["purposes"]}


def _link(admin: httpx.Client, identifier: str, **params: str) -> str:
    answer = admin.post(f"/v1/profiles/{identifier}/preference-link", params=params)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    assert answer.json()["url"].endswith(f"/privacy/preferences?t={token}")
    return token


def _ts(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def test_the_consent_api_records_each_choice_with_time_source_and_basis(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert client.post("/v1/identify", json=identify("ida", traits={"name": "Ida"})).status_code == 200
    server.wait_pipeline()
    before = _purposes(admin.get("/v1/profiles/ida/consent").json())
    assert set(before) == {"analytics", "personalization", "marketing", "partners"}
    assert before["partners"] | {"allowed": False, "granted": None, "basis": "consent"} == before["partners"]
    assert before["analytics"]["allowed"] is True  # legitimate interest: on until refused
    assert before["partners"]["title"] == "Partner offers"

    put = admin.put("/v1/profiles/ida/consent", json={"purposes": {"partners": True, "marketing": False}})
    assert put.status_code == 200, put.text
    after = _purposes(put.json())
    assert after["partners"]["allowed"] is True
    assert after["partners"]["source"] == "api"
    assert after["marketing"]["granted"] is False
    assert after["marketing"]["at"]
    assert after["marketing"]["basis_at_choice"] == "consent"  # the legal record
    server.wait_pipeline()
    profile = admin.get("/v1/profiles/ida").json()
    assert profile["consent"]["partners"]["allowed"] is True
    assert profile["consent"]["marketing"]["source"] == "api"
    # the choice is an event of the person's history: exported and erased like any
    events = admin.get("/v1/profiles/ida/events").json()["events"]
    recorded = [e for e in events if e.get("event") == "Segment Consent Preference Updated"]
    assert recorded
    assert recorded[0]["context"]["consent"]["categoryPreferences"] == {
        "partners": True,
        "marketing": False,
    }

    # an objection to analytics stops the profiling of later events, even those silent on it
    assert admin.put("/v1/profiles/ida/consent", json={"purposes": {"analytics": False}}).status_code == 200
    viewed = track("Product Viewed", userId="ida", properties={"product_id": "p-1"})
    assert client.post("/v1/track", json=viewed).status_code == 200
    server.wait_pipeline()
    counts = admin.get("/v1/profiles/ida").json()["features"]["event_counts"]
    assert "track:Product Viewed" not in counts

    unknown = admin.put("/v1/profiles/ida/consent", json={"purposes": {"astrology": True}})
    assert unknown.status_code == 422
    assert _code(unknown) == "consent.unknown_purpose"
    assert _code(client.get("/v1/profiles/ida/consent")) == "access.wrong_key_kind"
    assert _code(admin.get("/v1/profiles/nobody-at-all/consent")) == "profiles.not_found"


def test_a_write_key_acts_only_for_its_own_visitor(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    refused = client.put(
        "/v1/consent", json={"anonymous_id": "a-1", "user_id": "ida", "purposes": {"marketing": True}}
    )
    assert refused.status_code == 403
    assert _code(refused) == "access.wrong_key_kind"
    mine = client.put("/v1/consent", json={"anonymous_id": "a-1", "purposes": {"personalization": True}})
    assert mine.status_code == 200, mine.text
    assert "profile_id" not in mine.json()
    assert (
        _purposes(mine.json())["personalization"] | {"allowed": True, "source": "visitor"}
        == _purposes(mine.json())["personalization"]
    )
    read = client.get("/v1/consent", params={"anonymous_id": "a-1"}).json()
    assert _purposes(read)["personalization"]["allowed"] is True
    server.wait_pipeline()
    assert admin.get("/v1/profiles/a-1/consent", params={"type": "anonymous_id"}).json()["profile_id"]


def test_an_objection_on_the_page_reaches_recommendations_and_decisions_within_a_second(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    recshop.ready(server, admin)
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    views = [track("Product Viewed", anonymousId="v-9", properties={"product_id": h}, context=CONSENTED)
             for h in recshop.HATS[:3]]  # fmt: skip
    assert client.post("/v1/batch", json=batch(*views)).status_code == 200
    server.wait_pipeline()
    ask = {"anonymous_id": "v-9", "k": 4}
    assert client.get("/v1/recommendations", params=ask).json()["personalized"] is True
    assert client.post("/v1/decide", json={"placement": "banner", "anonymous_id": "v-9"}).json()[
        "personalized"
    ]

    token = _link(admin, "v-9", type="anonymous_id")
    page = httpx.get(f"{server.url}/privacy/preferences", params={"t": token})
    assert page.status_code == 200
    assert 'name="personalization"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    sent = time.monotonic()
    saved = httpx.post(
        f"{server.url}/privacy/preferences",
        data={"t": token, "personalization": "no", "marketing": "no", "analytics": "yes"},
    )
    assert saved.status_code == 303
    while True:
        recs = client.get("/v1/recommendations", params=ask).json()
        decided = client.post("/v1/decide", json={"placement": "banner", "anonymous_id": "v-9"}).json()
        if not recs["personalized"] and not decided["personalized"]:
            break
        assert time.monotonic() - sent < 1.0, "the objection was not applied within 1 s"
        time.sleep(0.02)
    assert recs["reason"] == "no consent for personalization"
    shown = httpx.get(f"{server.url}{saved.headers['location']}")
    assert "data-saved" in shown.text
    assert re.search(r'data-purpose="personalization".*?data-state>not allowed', shown.text, re.S)
    assert "on this page" in shown.text  # how it was set


def test_forged_and_expired_links_are_refused_with_stable_codes(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert client.post("/v1/identify", json=identify("eve")).status_code == 200
    server.wait_pipeline()
    token = _link(admin, "eve")
    version, payload, signature = token.split(".")
    subject = admin.get("/v1/profiles/eve").json()["profile_id"]
    key = link_key("test-identity-hash-key")
    expired = sign(key, f"profile_id:{subject}", expires_ms=int(time.time() * 1000) - 1)
    cases = {
        "preferences.link_invalid": [f"{version}.{payload}.{signature[:-4]}AAAA", "guess", ""],
        "preferences.link_expired": [expired],
    }
    for code, tokens in cases.items():
        for bad in tokens:
            for path in ("/privacy/preferences", "/privacy/why"):
                page = httpx.get(f"{server.url}{path}", params={"t": bad})
                assert page.status_code == 403
                assert f'data-error-code="{code}"' in page.text
            answer = httpx.get(f"{server.url}/v1/preferences/why", params={"t": bad})
            if bad:
                assert answer.status_code == 403
                assert _code(answer) == code
            posted = httpx.post(f"{server.url}/privacy/preferences", data={"t": bad, "marketing": "yes"})
            assert posted.status_code == 403
            assert f'data-error-code="{code}"' in posted.text
    assert httpx.get(f"{server.url}/privacy/preferences", params={"t": token}).status_code == 200


def test_one_person_cannot_see_another_ones_data(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    people = [
        identify("ann", traits={"name": "Ann"}, context=CONSENTED),
        identify("bob", traits={"name": "Bob"}),
    ]
    assert client.post("/v1/batch", json=batch(*people)).status_code == 200
    server.wait_pipeline()
    ann = admin.post("/v1/decide", json={"placement": "banner", "user_id": "ann"}).json()
    bob = admin.post("/v1/decide", json={"placement": "banner", "user_id": "bob"}).json()
    token = _link(admin, "ann")
    bob_id = admin.get("/v1/profiles/bob").json()["profile_id"]
    # Ann's signature over Bob's id opens nothing
    version, _payload, signature = token.split(".")
    import base64

    import orjson

    forged_payload = base64.urlsafe_b64encode(orjson.dumps({"s": f"profile_id:{bob_id}", "e": 2**41}))
    forged = f"{version}.{forged_payload.rstrip(b'=').decode()}.{signature}"
    assert (
        _code(httpx.get(f"{server.url}/v1/preferences/why", params={"t": forged}))
        == "preferences.link_invalid"
    )
    why = httpx.get(f"{server.url}/v1/preferences/why", params={"t": token}).json()
    ids = {d["decision_id"] for d in why["decisions"]}
    assert ann["decision_id"] in ids
    assert bob["decision_id"] not in ids
    page = httpx.get(f"{server.url}/privacy/why", params={"t": token}).text
    assert ann["decision_id"] in page
    assert bob["decision_id"] not in page
    assert "Bob" not in page


def test_the_stricter_choice_wins_across_a_merge(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    recshop.ready(server, admin)
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    refused = {"consent": {"categoryPreferences": {"personalization": False}}}
    first = [
        track("Product Viewed", anonymousId="tablet", properties={"product_id": "h1"}, context=refused,
              timestamp=_ts(30)),
        identify("max", traits={"name": "Max"}, context=CONSENTED, timestamp=_ts(20)),
        track("Product Viewed", userId="max", properties={"product_id": "h2"}, timestamp=_ts(19)),
    ]  # fmt: skip
    assert client.post("/v1/batch", json=batch(*first)).status_code == 200
    server.wait_pipeline()
    assert admin.get("/v1/profiles/max").json()["consent"]["personalization"]["allowed"] is True
    # Max signs in on the tablet: the two profiles join, and they disagree
    link = identify("max", anonymousId="tablet", timestamp=_ts(10))
    assert client.post("/v1/identify", json=link).status_code == 200
    server.wait_pipeline()
    consent = admin.get("/v1/profiles/max/consent").json()
    merged = _purposes(consent)["personalization"]
    assert merged["allowed"] is False
    assert merged["source"] == "merge"
    assert admin.get("/v1/profiles/max").json()["consent"]["personalization"]["allowed"] is False
    assert admin.get("/v1/recommendations", params={"user_id": "max"}).json()["personalized"] is False
    assert (
        admin.post("/v1/decide", json={"placement": "banner", "user_id": "max"}).json()["personalized"]
        is False
    )
    # a choice made after both lifts it
    assert (
        admin.put("/v1/profiles/max/consent", json={"purposes": {"personalization": True}}).status_code == 200
    )
    assert admin.get("/v1/recommendations", params={"user_id": "max"}).json()["personalized"] is True


def test_global_privacy_control_refuses_marketing_through_the_api_and_the_page(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    gpc = {"Sec-GPC": "1"}
    answer = client.put(
        "/v1/consent", json={"anonymous_id": "g-1", "purposes": {"marketing": True}}, headers=gpc
    )
    marketing = _purposes(answer.json())["marketing"]
    assert marketing["allowed"] is False
    assert marketing["source"] == "gpc"

    assert client.post("/v1/identify", json=identify("gina", context=CONSENTED)).status_code == 200
    server.wait_pipeline()
    assert admin.get("/v1/profiles/gina").json()["consent"]["marketing"]["allowed"] is True
    token = _link(admin, "gina")
    page = httpx.get(f"{server.url}/privacy/preferences", params={"t": token}, headers=gpc)
    assert "data-gpc" in page.text
    assert re.search(r'data-purpose="marketing".*?data-state>not allowed', page.text, re.S)
    server.wait_pipeline()
    stored = admin.get("/v1/profiles/gina").json()["consent"]["marketing"]
    assert stored["allowed"] is False
    assert stored["source"] == "gpc"
    # ticking marketing while the browser sends GPC changes nothing
    httpx.post(f"{server.url}/privacy/preferences", data={"t": token, "marketing": "yes"}, headers=gpc)
    assert _purposes(admin.get("/v1/profiles/gina/consent").json())["marketing"]["allowed"] is False


def test_why_lists_decisions_and_recommendations_with_their_reasons(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    recshop.ready(server, admin)
    assert admin.put("/v1/placements/banner", json=BANNER).status_code == 200
    experiment = {
        "placement": "banner",
        "arms": [{"name": "a", "variant": "plain"}, {"name": "b", "variant": "hello"}],
    }
    assert admin.put("/v1/experiments/banner-test", json=experiment).status_code == 200
    views = [track("Product Viewed", userId="wes", properties={"product_id": h}, context=CONSENTED)
             for h in recshop.HATS[:3]]  # fmt: skip
    assert client.post("/v1/batch", json=batch(*views)).status_code == 200
    server.wait_pipeline()
    decided = admin.post("/v1/decide", json={"placement": "banner", "user_id": "wes"}).json()
    recs = admin.get("/v1/recommendations", params={"user_id": "wes", "k": 3}).json()
    assert recs["personalized"]
    server.services.capabilities["recommendations"].shown.flush()

    why = admin.get("/v1/profiles/wes/why").json()
    assert why["personalization_allowed"] is True
    decision = why["decisions"][0]
    assert decision["decision_id"] == decided["decision_id"]
    assert decision["experiment"]["id"] == "banner-test"
    assert decision["experiment"]["arm"] in ("a", "b")
    assert any("This is an experiment" in s for s in decision["explanation"])
    assert any("Your profile was used" in s for s in decision["explanation"])
    shown = why["recommendations"][0]
    assert [i["item_id"] for i in shown["items"]] == [i["id"] for i in recs["items"]]
    assert all(i["text"] for i in shown["items"])
    own = [i for i in shown["items"] if "your_event" in i]
    assert own
    assert all(i["about"] in recshop.HATS[:3] for i in own)

    page = httpx.get(f"{server.url}/privacy/why", params={"t": _link(admin, "wes")})
    assert page.status_code == 200
    assert "This is an experiment" in page.text
    assert "banner-test" in page.text
    assert shown["items"][0]["text"] in page.text.replace("&#39;", "'")

    # the log of answers is the person's data: exported, then erased
    export = admin.get("/v1/profiles/wes/export").json()
    assert len(export["tables"]["recommendations_shown"]) == 1
    erased = admin.delete("/v1/profiles/wes").json()
    assert erased["rows"]["recommendations_shown"] == 1


def test_the_secret_key_path_needs_the_secret_key(server: LiveServer, client: httpx.Client) -> None:
    for method, path in (("GET", "/v1/profiles/x/why"), ("POST", "/v1/profiles/x/preference-link"),
                         ("PUT", "/v1/profiles/x/consent")):  # fmt: skip
        response = client.request(method, path, json={"purposes": {"marketing": False}})
        assert response.status_code == 403
        assert _code(response) == "access.wrong_key_kind"
    anonymous = httpx.get(f"{server.url}/v1/profiles/x/why", headers={"Authorization": "Bearer nope"})
    assert anonymous.status_code == 401
    assert SECRET_KEY  # the admin fixture's key


def test_the_log_of_answers_is_purged_with_the_decision_log(server: LiveServer) -> None:
    from surmesure.clock import FixedClock, SystemClock, utc_ms
    from surmesure.recommendations.shown import ShownLog

    now = SystemClock().now()
    log = ShownLog(server.services.engine)
    for days in (400, 1):
        at = utc_ms(now - timedelta(days=days))
        log.write(at_ms=at, person="anonymous_id:old", profile_id=None, context="home",
                  personalized=False, reason="no history", items=[])  # fmt: skip
    log.stop()  # writes what is queued
    with server.services.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM recommendations_shown").scalar_one() == 2
    privacy = server.services.capabilities["privacy"]
    privacy.clock = FixedClock(now)
    assert privacy.purge()["recommendations_shown"] == 1  # past retention.decisions_days (395)
    with server.services.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM recommendations_shown").scalar_one()
    assert left == 1
