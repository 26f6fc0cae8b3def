"""``ProfileService.recent``, the serving read of a person's latest events: the same
events as ``ProfileService.events`` (through the profile, or the identifier itself
before there is one), a stamp that moves with them, no body read when the caller has
them, the profile's consent; and the driver-SQL reads of the events store under it."""

from __future__ import annotations

from typing import Any

import httpx

from surmesure.events import store as events_store
from surmesure.profiles.service import ProfileService

from builders import batch, identify, track
from conftest import LiveServer

GRANTED: dict[str, Any] = {"consent": {"categoryPreferences": {"personalization": True}}}


def send(client: httpx.Client, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json=batch(*events))
    assert response.status_code == 200, response.text


def profiles(server: LiveServer) -> ProfileService:
    service: ProfileService = server.services.capabilities["profiles"]
    return service


def view(item: str, **fields: Any) -> dict[str, Any]:
    return track("Product Viewed", properties={"product_id": item}, **fields)


def test_recent_reads_what_events_reads_through_the_profile(server: LiveServer, client: httpx.Client) -> None:
    send(client, *(view(f"i{n}", anonymousId="anon-r") for n in range(3)))
    send(client, identify("user-r", anonymousId="anon-r"), view("i9", userId="user-r", context=GRANTED))
    server.wait_pipeline()
    service = profiles(server)
    expected, _ = service.events("user-r", limit=3)
    for who, id_type in (("user-r", "user_id"), ("anon-r", "anonymous_id"), ("user-r", None)):
        recent = service.recent(who, id_type=id_type, limit=3)
        assert recent.has_profile
        assert recent.bodies == expected  # newest first, the same limit
        assert recent.key == service.require("user-r")["profile_id"]
        assert recent.stamp[:2] == (expected[0]["seq"], 5)  # 3 views, identify, 1 view
        assert recent.consent["personalization"] is True
    # by profile id, too
    pid = service.require("user-r")["profile_id"]
    assert service.recent(pid, id_type="profile_id", limit=3).bodies == expected
    assert service.recent(pid, limit=3).bodies == expected


def test_the_stamp_moves_with_the_events_and_have_skips_the_bodies(
    server: LiveServer, client: httpx.Client
) -> None:
    send(client, view("i1", userId="user-s"))
    server.wait_pipeline()
    service = profiles(server)
    first = service.recent("user-s", id_type="user_id")
    asked: list[tuple[str, Any]] = []

    def have(key: str, stamp: Any) -> bool:
        asked.append((key, stamp))
        return stamp == first.stamp

    again = service.recent("user-s", id_type="user_id", have=have)
    assert asked == [(first.key, first.stamp)]
    assert again.bodies is None
    assert again.stamp == first.stamp
    assert again.has_profile
    assert again.consent == first.consent
    send(client, view("i2", userId="user-s"))
    server.wait_pipeline()
    moved = service.recent("user-s", id_type="user_id", have=have)
    assert moved.stamp != first.stamp
    assert moved.stamp[1] == 2
    assert [b["properties"]["product_id"] for b in moved.bodies or []] == ["i2", "i1"]


def test_without_a_profile_the_identifier_itself(server: LiveServer) -> None:
    service = profiles(server)
    nobody = service.recent("nobody", id_type="user_id")
    assert not nobody.has_profile
    assert nobody.bodies == []
    assert nobody.consent == {}
    assert nobody.stamp[:2] == (0, 0)
    assert nobody.key == "user_id:nobody"
    # an email or a profile id that resolves to no one reads no events at all
    assert service.recent("nobody@example.com", id_type="email").bodies == []
    assert service.recent("p-missing", id_type="profile_id").bodies == []


def test_latest_stamp_and_bodies_match_events_for_identifiers(
    server: LiveServer, client: httpx.Client
) -> None:
    send(
        client,
        view("a1", anonymousId="anon-x"),
        view("a2", anonymousId="anon-x", userId="user-x"),
        view("a3", userId="user-x"),
        view("a4", anonymousId="anon-other"),
    )
    server.wait_pipeline()
    with server.services.engine.connect() as conn:
        for users, anons in ((["user-x"], ["anon-x"]), ([], ["anon-x"]), (["user-x"], []), ([], [])):
            rows = events_store.events_for_identifiers(conn, users, anons, newest_first=True)
            assert events_store.latest_bodies(conn, users, anons, limit=2) == [
                (r.seq, r.body) for r in rows[:2]
            ]
            stamp = events_store.latest_stamp(conn, users, anons)
            assert stamp == ((rows[0].seq if rows else 0), len(rows))
