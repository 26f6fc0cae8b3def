"""Collection over HTTP on both stores: acknowledgement, dedup, limits, quarantine."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from surmesure.events import store

from builders import batch, identify, page, track
from conftest import SECRET_KEY, WRITE_KEY, LiveServer


def stored(server: LiveServer) -> list[dict[str, Any]]:
    with server.services.engine.connect() as conn:
        rows = conn.execute(sa.select(store.events).order_by(store.events.c.seq)).mappings().all()
    return [{**row, "body": orjson.loads(row["body"])} for row in rows]


def quarantined(server: LiveServer) -> list[dict[str, Any]]:
    with server.services.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(store.quarantine)).mappings()]


def test_batch_is_stored_and_acknowledged(server: LiveServer, client: httpx.Client) -> None:
    events = [page(), track(properties={"sku": "A1"}), identify("u-1", traits={"plan": "pro"})]
    response = client.post("/v1/batch", json=batch(*events))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "received": 3,
        "accepted": 3,
        "duplicates": 0,
        "conflicts": 0,
        "quarantined": 0,
        "errors": [],
        "status": "ok",
    }
    rows = stored(server)
    assert [r["message_id"] for r in rows] == [e["messageId"] for e in events]
    assert rows[1]["body"]["properties"] == {"sku": "A1"}
    assert rows[2]["user_id"] == "u-1"


@pytest.mark.parametrize("kind", ["track", "identify", "page", "screen", "alias", "group"])
def test_single_endpoints(server: LiveServer, client: httpx.Client, kind: str) -> None:
    event: dict[str, Any] = {"userId": "u-9", "messageId": f"m-{kind}"}
    event.update(
        {"track": {"event": "Signed Up"}, "alias": {"previousId": "anon-7"}, "group": {"groupId": "g-1"}}.get(
            kind, {}
        )
    )
    response = client.post(f"/v1/{kind}", json=event)
    assert response.status_code == 200, response.text
    assert [(r["type"], r["message_id"]) for r in stored(server)] == [(kind, f"m-{kind}")]


def test_same_message_id_same_content_is_one_event(server: LiveServer, client: httpx.Client) -> None:
    event = track()
    first = client.post("/v1/batch", json=batch(event, sentAt=datetime.now(UTC).isoformat()))
    # a retry re-stamps sentAt: still the same event
    retry = client.post("/v1/batch", json=batch(event, sentAt=(datetime.now(UTC)).isoformat()))
    assert first.json()["accepted"] == 1
    assert retry.status_code == 200
    assert retry.json()["duplicates"] == 1
    assert retry.json()["accepted"] == 0
    within = client.post("/v1/batch", json=batch(event, event)).json()
    assert within["duplicates"] == 2
    assert len(stored(server)) == 1


def test_same_message_id_other_content_is_kept_and_recorded(server: LiveServer, client: httpx.Client) -> None:
    event = track(properties={"v": 1})
    client.post("/v1/batch", json=batch(event))
    other = {**event, "properties": {"v": 2}}
    result = client.post("/v1/batch", json=batch(other)).json()
    assert result["accepted"] == 1
    assert result["conflicts"] == 1
    assert [r["body"]["properties"]["v"] for r in stored(server)] == [1, 2]
    with server.services.engine.connect() as conn:
        rows = conn.execute(sa.select(store.conflicts)).mappings().all()
    assert [r["message_id"] for r in rows] == [event["messageId"]]


def test_partial_batch_reports_each_item(server: LiveServer, client: httpx.Client) -> None:
    good = track()
    too_old = track(timestamp="1999-12-31T23:59:59Z")
    too_new = track(timestamp=(datetime.now(UTC) + timedelta(hours=25)).isoformat())
    unknown = {"type": "purchase", "userId": "u", "messageId": "m-unknown"}
    no_identity = {"type": "track", "event": "X", "messageId": "m-noid", "userId": "null", "anonymousId": ""}
    no_name = {"type": "track", "userId": "u", "messageId": "m-noname"}
    bad_props = {"type": "track", "event": "X", "userId": "u", "properties": [1, 2]}
    not_object = "hello"
    response = client.post(
        "/v1/batch", json=batch(good, too_old, too_new, unknown, no_identity, no_name, bad_props, not_object)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial"
    assert body["received"] == 8
    assert body["accepted"] == 1
    assert body["quarantined"] == 7
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "events.timestamp_out_of_range"),
        (2, "events.timestamp_out_of_range"),
        (3, "events.unknown_type"),
        (4, "events.missing_identity"),
        (5, "events.missing_field"),
        (6, "events.invalid_event"),
        (7, "events.invalid_event"),
    ]
    assert sorted(q["code"] for q in quarantined(server)) == sorted(e["code"] for e in body["errors"])
    kept = {q["message_id"]: orjson.loads(q["raw"]) for q in quarantined(server) if q["message_id"]}
    assert kept["m-unknown"] == unknown


def test_every_item_refused_answers_400(server: LiveServer, client: httpx.Client) -> None:
    response = client.post(
        "/v1/batch", json=batch({"type": "nope", "userId": "u"}, {"type": "track", "userId": "u"})
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "events.batch_rejected"
    assert [e["code"] for e in error["details"]["errors"]] == ["events.unknown_type", "events.missing_field"]
    assert len(quarantined(server)) == 2


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ({"event": "X"}, 400, "events.missing_identity"),
        ({"userId": "u"}, 400, "events.missing_field"),
        ({"event": "X", "userId": "u", "timestamp": "not a date"}, 400, "events.invalid_event"),
        (
            {"event": "X", "userId": "u", "timestamp": "1970-01-01T00:00:00Z"},
            400,
            "events.timestamp_out_of_range",
        ),
        ({"event": "X", "userId": "u", "properties": {"blob": "x" * 33_000}}, 413, "events.event_too_large"),
        ({"event": "X", "userId": "u", "type": "identify"}, 400, "events.unknown_type"),
    ],
)
def test_single_event_errors(
    server: LiveServer, client: httpx.Client, event: dict[str, Any], status: int, code: str
) -> None:
    response = client.post("/v1/track", json=event)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert [q["code"] for q in quarantined(server)] == [code]
    assert stored(server) == []


def test_batch_over_500_kb_is_refused_and_quarantined(server: LiveServer, client: httpx.Client) -> None:
    events = [track(properties={"pad": "x" * 20_000}) for _ in range(30)]  # ~600 KB
    response = client.post("/v1/batch", json=batch(*events))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "events.batch_too_large"
    rows = quarantined(server)
    assert [r["code"] for r in rows] == ["events.batch_too_large"]
    assert rows[0]["raw_size"] > 0
    assert stored(server) == []


def test_event_over_32_kb_inside_a_batch(server: LiveServer, client: httpx.Client) -> None:
    big = track(properties={"pad": "x" * 33_000})
    body = client.post("/v1/batch", json=batch(track(), big)).json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "events.event_too_large")]
    assert body["accepted"] == 1


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "request.malformed_json"),
        (b'{"events": []}', "application/json", 400, "events.invalid_batch"),
        (b"[1, 2]", "application/json", 400, "events.invalid_batch"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "request.unsupported_media_type"),
    ],
)
def test_malformed_requests(
    server: LiveServer, client: httpx.Client, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post("/v1/batch", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_received_equals_accepted_plus_duplicates_plus_quarantined(
    server: LiveServer, client: httpx.Client
) -> None:
    events = [track(), track(), {"type": "bad", "userId": "u"}, track(timestamp="1990-01-01T00:00:00Z")]
    totals = {"received": 0, "accepted": 0, "duplicates": 0, "quarantined": 0}
    for _ in range(3):
        result = client.post("/v1/batch", json=batch(*events)).json()
        for key in totals:
            totals[key] += result[key]
    assert totals["received"] == totals["accepted"] + totals["duplicates"] + totals["quarantined"]
    assert totals == {"received": 12, "accepted": 2, "duplicates": 4, "quarantined": 6}
    assert len(stored(server)) == 2
    assert len(quarantined(server)) == 6


class TestKeys:
    def test_no_key_is_401_and_nothing_stored(self, server: LiveServer) -> None:
        with server.client(key=None) as anonymous:
            response = anonymous.post("/v1/batch", json=batch(track()))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "access.unauthenticated"
        assert stored(server) == []
        assert quarantined(server) == []

    def test_wrong_key_is_401(self, server: LiveServer) -> None:
        with server.client(key="not-a-key") as stranger:
            assert stranger.post("/v1/batch", json=batch(track())).status_code == 401

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()},
            {"Authorization": f"Bearer {WRITE_KEY}"},
            {"X-Write-Key": WRITE_KEY},
        ],
    )
    def test_key_in_headers(self, server: LiveServer, headers: dict[str, str]) -> None:
        response = httpx.post(f"{server.url}/v1/batch", json=batch(track()), headers=headers)
        assert response.status_code == 200

    def test_key_in_body(self, server: LiveServer) -> None:
        response = httpx.post(f"{server.url}/v1/batch", json=batch(track(), writeKey=WRITE_KEY))
        assert response.status_code == 200

    def test_write_key_cannot_read_profiles(self, server: LiveServer, client: httpx.Client) -> None:
        client.post("/v1/identify", json=identify("u-read"))
        response = client.get("/v1/profiles/u-read")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "access.wrong_key_kind"

    def test_secret_key_may_send_events(self, server: LiveServer) -> None:
        with server.client(key=SECRET_KEY) as backend:
            assert backend.post("/v1/batch", json=batch(track())).status_code == 200


def test_clients_cannot_set_internal_fields(server: LiveServer, client: httpx.Client) -> None:
    event = track(receivedAt="2001-01-01T00:00:00Z", seq=1, commit_id="x", profileId="p", source="evil")
    client.post("/v1/batch", json=batch(event))
    row = stored(server)[0]
    assert row["source"] != "evil"
    assert row["commit_id"] != "x"
    assert not {"seq", "profileId", "source", "commit_id"} & set(row["body"])
    assert row["body"]["receivedAt"].startswith(str(datetime.now(UTC).year))


def test_clock_skew_is_corrected(server: LiveServer, client: httpx.Client) -> None:
    # the client's clock is 2 hours ahead: it says the event happened at T+2h-5s and was sent at T+2h
    skew = timedelta(hours=2)
    now = datetime.now(UTC)
    event = track(timestamp=(now + skew - timedelta(seconds=5)).isoformat())
    client.post("/v1/batch", json=batch(event, sentAt=(now + skew).isoformat()))
    row = stored(server)[0]
    corrected = datetime.fromtimestamp(row["timestamp_ms"] / 1000, UTC)
    assert abs((corrected - (now - timedelta(seconds=5))).total_seconds()) < 3
    assert row["body"]["originalTimestamp"].startswith(
        (now + skew - timedelta(seconds=5)).strftime("%Y-%m-%dT%H")
    )


def test_ip_is_truncated_and_gpc_recorded(server: LiveServer, client: httpx.Client) -> None:
    event = track(context={"ip": "203.0.113.77"})
    client.post("/v1/batch", json=batch(event), headers={"Sec-GPC": "1"})
    context = stored(server)[0]["body"]["context"]
    assert context["ip"] == "203.0.113.0"
    assert context["gpc"] is True


def test_overload_answers_503_with_retry_after_and_loses_nothing(tmp_path: Any, store_url: str) -> None:
    from conftest import make_settings

    settings = make_settings(tmp_path, store_url, ingest={"max_pending_events": 100})
    with LiveServer(settings) as server:
        # hold the write lock so the writer cannot commit: requests pile up
        blocker: Any
        engine = server.services.engine
        if engine.dialect.name == "sqlite":
            import sqlite3

            blocker = sqlite3.connect(engine.url.database, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
        else:
            blocker = engine.connect()
            blocker.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")
        import concurrent.futures as cf

        def send(i: int) -> tuple[int, dict[str, Any], list[str]]:
            events = [track() for _ in range(60)]
            with server.client() as c:
                r = c.post("/v1/batch", json=batch(*events))
            return r.status_code, dict(r.headers), [e["messageId"] for e in events]

        with cf.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send, i) for i in range(4)]
            import time

            time.sleep(1.0)
            blocker.rollback()
            blocker.close()
            results = [f.result() for f in futures]
        statuses = sorted(code for code, _, _ in results)
        assert 503 in statuses
        assert 200 in statuses
        refused = [h for code, h, _ in results if code == 503]
        assert all(h.get("retry-after") for h in refused)
        acked = {m for code, _, ids in results if code == 200 for m in ids}
        assert {r["message_id"] for r in stored(server)} == acked


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_decoded(server: LiveServer, client: httpx.Client, encoding: str) -> None:
    import gzip
    import zlib

    raw = orjson.dumps(batch(track(), track()))
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    response = client.post(
        "/v1/batch", content=body, headers={"content-type": "application/json", "content-encoding": encoding}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


def test_compression_bomb_is_refused_by_its_decoded_size(server: LiveServer, client: httpx.Client) -> None:
    import gzip

    bomb = gzip.compress(b'{"batch": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 50_000
    response = client.post(
        "/v1/batch", content=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "events.batch_too_large"


@pytest.mark.parametrize(
    ("encoding", "body", "status", "code"),
    [
        ("br", b"xx", 415, "request.unsupported_encoding"),
        ("gzip", b"not gzip at all", 400, "request.malformed_encoding"),
    ],
)
def test_bad_encodings(
    server: LiveServer, client: httpx.Client, encoding: str, body: bytes, status: int, code: str
) -> None:
    response = client.post(
        "/v1/batch", content=body, headers={"content-type": "application/json", "content-encoding": encoding}
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_nul_characters_cannot_block_the_store(server: LiveServer, client: httpx.Client) -> None:
    poisoned = track(event="a\u0000b")
    good = track()
    result = client.post("/v1/batch", json=batch(poisoned, good)).json()
    assert result["accepted"] == 1
    assert [(e["index"], e["code"]) for e in result["errors"]] == [(0, "events.invalid_event")]
    raw_nul = client.post(
        "/v1/batch", content=b'{"batch": [\x00]}', headers={"content-type": "application/json"}
    )
    assert raw_nul.status_code == 400
    assert raw_nul.json()["error"]["code"] == "request.malformed_json"
    # the store still takes events, and both refusals were kept
    assert client.post("/v1/batch", json=batch(track())).status_code == 200
    assert sorted(q["code"] for q in quarantined(server)) == [
        "events.invalid_event",
        "request.malformed_json",
    ]
    assert len(stored(server)) == 2
