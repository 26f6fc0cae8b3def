"""Unified profiles over HTTP on both stores: merge, unmerge, guards, order independence."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import batch, identify, page, track
from conftest import LiveServer


def send(client: httpx.Client, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json=batch(*events))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events)


def profile(admin: httpx.Client, ident: str, **params: str) -> dict[str, Any]:
    response = admin.get(f"/v1/profiles/{ident}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids_of(view: dict[str, Any]) -> set[str]:
    return {f"{i['type']}:{i['value']}" for i in view["identifiers"] if i["type"] != "email"}


def test_identify_merges_anonymous_history_visible_within_a_second(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    send(
        client,
        page(anonymousId="anon-1"),
        track("Product Viewed", anonymousId="anon-1", properties={"category": "Shoes"}),
    )
    server.wait_pipeline()
    anon_profile = profile(admin, "anon-1")["profile_id"]
    send(client, identify("user-1", anonymousId="anon-1", traits={"email": "ann@example.com", "name": "Ann"}))
    acked = time.monotonic()
    while True:
        response = admin.get("/v1/profiles/user-1")
        if response.status_code == 200 and "anonymous_id:anon-1" in ids_of(response.json()):
            break
        assert time.monotonic() - acked < 1.0, "merged profile not visible within 1 s"
        time.sleep(0.02)
    view = response.json()
    assert view["traits"] == {"email": "ann@example.com", "name": "Ann"}
    assert view["features"]["event_counts"] == {"identify": 1, "page": 1, "track:Product Viewed": 1}
    assert view["features"]["category_affinity"][0]["name"] == "Shoes"
    assert [m["kind"] for m in view["merges"]] == ["merge"]
    # the anonymous profile id, the email and the user id all reach the same person
    assert profile(admin, anon_profile)["profile_id"] == view["profile_id"]
    assert profile(admin, "ANN@example.com")["profile_id"] == view["profile_id"]
    assert profile(admin, "user-1", type="user_id")["profile_id"] == view["profile_id"]


def test_unmerge_reattributes_the_events(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    send(client, page(anonymousId="kiosk"), page(anonymousId="kiosk"))
    server.wait_pipeline()
    send(
        client,
        identify("user-2", anonymousId="kiosk"),
        track("Order Completed", userId="user-2", properties={"revenue": 5}),
    )
    server.wait_pipeline()
    merged = profile(admin, "user-2")
    assert merged["features"]["event_counts"]["page"] == 2
    merge_id = merged["merges"][0]["merge_id"]

    undo = admin.post(f"/v1/merges/{merge_id}/undo")
    assert undo.status_code == 200, undo.text
    user = profile(admin, "user-2")
    anon = profile(admin, "kiosk")
    assert user["profile_id"] != anon["profile_id"]
    assert "anonymous_id:kiosk" not in ids_of(user)
    assert "page" not in user["features"]["event_counts"]
    assert user["features"]["frequency"] == 1
    assert anon["features"]["event_counts"] == {"page": 2}
    events = admin.get("/v1/profiles/kiosk/events").json()["events"]
    assert [e["type"] for e in events] == ["page", "page"]

    again = admin.post(f"/v1/merges/{merge_id}/undo")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "profiles.merge_already_undone"
    # a later event linking them again does not undo the undo
    send(client, track("Product Viewed", userId="user-2", anonymousId="kiosk"))
    server.wait_pipeline()
    assert "anonymous_id:kiosk" not in ids_of(profile(admin, "user-2"))


def test_shared_device_does_not_fuse_known_users(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    send(client, identify("alice", anonymousId="family-tablet", timestamp="2026-01-01T10:00:00Z"))
    send(client, identify("bob", anonymousId="family-tablet", timestamp="2026-01-02T10:00:00Z"))
    server.wait_pipeline()
    alice, bob = profile(admin, "alice"), profile(admin, "bob")
    assert alice["profile_id"] != bob["profile_id"]
    assert ids_of(alice) == {"user_id:alice", "anonymous_id:family-tablet"}
    assert ids_of(bob) == {"user_id:bob"}


def test_placeholder_ids_never_link(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    for user in ("carol", "dave"):
        send(client, identify(user, anonymousId="undefined", traits={"email": "null"}))
    server.wait_pipeline()
    assert ids_of(profile(admin, "carol")) == {"user_id:carol"}
    assert ids_of(profile(admin, "dave")) == {"user_id:dave"}
    assert admin.get("/v1/profiles/undefined", params={"type": "anonymous_id"}).status_code == 404


def test_alias_merges_previous_id(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    send(client, page(anonymousId="old-anon"))
    server.wait_pipeline()
    assert client.post("/v1/alias", json={"previousId": "old-anon", "userId": "erin"}).status_code == 200
    server.wait_pipeline()
    assert "anonymous_id:old-anon" in ids_of(profile(admin, "erin"))


def test_external_ids_link_and_are_capped(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    send(
        client,
        identify("frank", traits={"crm_id": "CRM-2"}, timestamp="2026-02-02T00:00:00Z"),
        identify("frank", traits={"crm_id": "CRM-1"}, timestamp="2026-02-01T00:00:00Z"),
    )
    server.wait_pipeline()
    view = profile(admin, "crm_id:CRM-1")
    assert ids_of(view) == {"user_id:frank", "crm_id:CRM-1"}  # one CRM id per person: the first
    assert ids_of(profile(admin, "crm_id:CRM-2")) == {"crm_id:CRM-2"}


def test_consent_and_gpc_are_recorded(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    granted = {"consent": {"categoryPreferences": {"personalization": True, "marketing": True}}}
    send(client, track(userId="gina", context=granted, timestamp="2026-03-01T00:00:00Z"))
    server.wait_pipeline()
    consent = profile(admin, "gina")["consent"]
    assert consent["personalization"]["allowed"] is True
    assert consent["marketing"]["allowed"] is True
    response = client.post("/v1/batch", json=batch(track(userId="gina")), headers={"Sec-GPC": "1"})
    assert response.status_code == 200
    server.wait_pipeline()
    consent = profile(admin, "gina")["consent"]
    assert consent["marketing"]["allowed"] is False
    assert consent["personalization"]["allowed"] is True


def test_unknown_profile_is_404(server: LiveServer, admin: httpx.Client) -> None:
    response = admin.get("/v1/profiles/nobody")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "profiles.not_found"
    assert admin.get("/v1/profiles/nobody/events").status_code == 404
    assert admin.post("/v1/merges/nope/undo").json()["error"]["code"] == "profiles.merge_not_found"


def test_events_are_paged_newest_first(server: LiveServer, client: httpx.Client, admin: httpx.Client) -> None:
    events = [track(f"E{i}", userId="hank") for i in range(5)]
    send(client, *events)
    server.wait_pipeline()
    first = admin.get("/v1/profiles/hank/events", params={"limit": 3}).json()
    assert [e["event"] for e in first["events"]] == ["E4", "E3", "E2"]
    rest = admin.get("/v1/profiles/hank/events", params={"limit": 3, "before": first["next_before"]}).json()
    assert [e["event"] for e in rest["events"]] == ["E1", "E0"]
    assert rest["next_before"] is None
    assert admin.get("/v1/profiles/hank/events", params={"limit": 0}).status_code == 422


# -- order independence, through the real server --------------------------------------

_people = ["p0", "p1", "p2"]
_anons = ["a0", "a1", "a2", "a3"]
_event = st.one_of(
    st.builds(lambda a, d: ("page", None, a, d), st.sampled_from(_anons), st.integers(0, 9)),
    st.builds(
        lambda u, a, d: ("identify", u, a, d),
        st.sampled_from(_people),
        st.sampled_from(_anons),
        st.integers(0, 9),
    ),
    st.builds(lambda u, d: ("order", u, None, d), st.sampled_from(_people), st.integers(0, 9)),
)


def _materialize(spec: list[tuple[str, str | None, str | None, int]], ns: str) -> list[dict[str, Any]]:
    out = []
    for i, (kind, user, anon, day) in enumerate(spec):
        fields: dict[str, Any] = {"messageId": f"{ns}-{i}", "timestamp": f"2026-05-{day + 1:02d}T12:00:00Z"}
        if user:
            fields["userId"] = f"{ns}-{user}"
        if anon:
            fields["anonymousId"] = f"{ns}-{anon}"
        if kind == "page":
            out.append(page(**fields))
        elif kind == "identify":
            out.append(identify(fields.pop("userId"), **fields))
        else:
            out.append(track("Order Completed", properties={"revenue": 10}, **fields))
    return out


def _partition(admin: httpx.Client, spec: list[Any], ns: str) -> set[tuple[frozenset[str], int]]:
    names = {x for _, u, a, _ in spec for x in (u, a) if x}
    seen = set()
    for name in names:
        response = admin.get(f"/v1/profiles/{ns}-{name}")
        assert response.status_code == 200, response.text
        view = response.json()
        members = frozenset(i.split(":", 1)[1].removeprefix(f"{ns}-") for i in ids_of(view))
        seen.add((members, sum(view["features"]["event_counts"].values())))
    return seen


@pytest.mark.slow
def test_final_profiles_do_not_depend_on_arrival_order(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(_event, min_size=1, max_size=8), st.randoms(use_true_random=False))
    def check(spec: list[Any], rnd: Any) -> None:
        ns_a, ns_b = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
        forward = _materialize(spec, ns_a)
        shuffled = list(enumerate(_materialize(spec, ns_b)))
        rnd.shuffle(shuffled)
        for event in forward:  # one request per event: every arrival is its own pipeline step
            send(client, event)
        for _, event in shuffled:
            send(client, event)
        server.wait_pipeline()
        assert _partition(admin, spec, ns_a) == _partition(admin, spec, ns_b)

    check()


def test_identify_traits_in_context_count_too(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    # RudderStack's libraries send identify traits in context.traits
    send(
        client,
        identify("ivy", context={"traits": {"plan": "gold", "name": "Ivy"}}, traits={"name": "Ivy B."}),
    )
    server.wait_pipeline()
    assert profile(admin, "ivy")["traits"] == {"plan": "gold", "name": "Ivy B."}
