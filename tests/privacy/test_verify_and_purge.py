"""``surmesure privacy verify-erasure`` (a canary planted, erased, looked for in every
table and file) and the retention purge, on both stores; the CLI's export and erase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from surmesure.app import build_services
from surmesure.clock import FixedClock, SystemClock, utc_ms
from surmesure.config import Settings
from surmesure.privacy.retention import cutoffs
from surmesure.privacy.verify import scan_files, scan_tables

from builders import batch, identify, page, track
from conftest import LiveServer, make_settings


def run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "surmesure.cli", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _env(settings: Settings) -> dict[str, str]:
    return {
        "SURMESURE_DATA_DIR": str(settings.data_dir),
        "SURMESURE_STORE__URL": settings.store_url,
        "SURMESURE_IDENTITY__HASH_KEY": "test-identity-hash-key",
        "SURMESURE_PIPELINE__MODE": "thread",
        "SURMESURE_PIPELINE__MAX_DELAY_MS": "5",
    }


def test_verify_erasure_finds_nothing_of_the_canary_within_60_s(tmp_path: Path, settings: Settings) -> None:
    # a store with other people in it and a file the platform wrote under the data directory
    with LiveServer(settings) as server, server.client() as client:
        client.post(
            "/v1/batch", json=batch(identify("kim", traits={"email": "kim@example.com"}), page(userId="kim"))
        )
        server.wait_pipeline()
    done = run(tmp_path, "privacy", "verify-erasure", env=_env(settings))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["occurrences"]["total"] == 0
    assert report["planted"] == {"accepted": 4, "quarantined": 1}
    assert report["erasure"]["rows"]["events"] == 4
    assert report["replay"]["accepted"] == 0
    assert report["replay"]["codes"] == ["events.erased_identity"]
    assert report["seconds"] < 60
    # the others are still there
    shown = run(tmp_path, "profile", "show", "kim", "--json", env=_env(settings))
    assert shown.returncode == 0, shown.stderr


def test_verify_erasure_covers_the_recommendations_shown(tmp_path: Path, settings: Settings) -> None:
    from recommendations.recshop import ready

    from conftest import SECRET_KEY

    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    with LiveServer(settings) as server, httpx.Client(base_url=server.url, headers=auth, timeout=30) as admin:
        ready(server, admin)  # a trained model: the canary is answered, and the answer logged
    done = run(tmp_path, "privacy", "verify-erasure", env=_env(settings))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["recommended"] is True
    assert report["erasure"]["rows"]["recommendations_shown"] == 1
    assert report["occurrences"]["total"] == 0


def test_the_scan_finds_what_is_there(tmp_path: Path, sqlite_url: str) -> None:
    """A check that cannot fail proves nothing: the scanners see a planted string."""
    settings = make_settings(tmp_path / "data", sqlite_url)
    services = build_services(settings)
    try:
        with services.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO profiles_state (name, value) VALUES ('needle-XyZ-1', 1)"))
        assert scan_tables(services.engine, ["needle-xyz"]) == {"profiles_state.name": 1}
    finally:
        services.engine.dispose()
    (tmp_path / "data" / "models").mkdir(parents=True)
    (tmp_path / "data" / "models" / "log.txt").write_bytes(b"x" * 2_000_000 + b"NEEDLE-xyz" + b"y" * 10)
    found = scan_files([tmp_path / "data"], ["needle-xyz"])
    assert found == {str((tmp_path / "data" / "models" / "log.txt").resolve()): 1}


def test_cli_export_and_erase(tmp_path: Path, settings: Settings) -> None:
    with LiveServer(settings) as server, server.client() as client:
        client.post("/v1/batch", json=batch(identify("ivy", anonymousId="ivy-a"), track(userId="ivy")))
        server.wait_pipeline()
    out = tmp_path / "ivy.json"
    done = run(tmp_path, "privacy", "export", "ivy-a", "-o", str(out), env=_env(settings))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["tables"]["events"]) == 2
    assert out.stat().st_mode & 0o777 == 0o600
    erased = run(tmp_path, "privacy", "erase", "ivy", env=_env(settings))
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["rows"]["events"] == 2
    again = run(tmp_path, "privacy", "export", "ivy", env=_env(settings))
    assert again.returncode == 3
    assert "privacy.person_not_found" in again.stderr


def _expired(engine: sa.Engine, settings: Settings, now_ms: int) -> dict[str, int]:
    cuts = cutoffs(settings.retention, now_ms)
    queries: dict[str, tuple[str, int | None]] = {
        "events": ("SELECT count(*) FROM events WHERE received_ms < :cut", cuts["events"]),
        "event_quarantine": (
            "SELECT count(*) FROM event_quarantine WHERE received_ms < :cut",
            cuts["quarantine"],
        ),
        "event_conflicts": (
            "SELECT count(*) FROM event_conflicts WHERE received_ms < :cut",
            cuts["conflicts"],
        ),
        "decisions": ("SELECT count(*) FROM decisions WHERE at_ms < :cut", cuts["decisions"]),
        "exposures": ("SELECT count(*) FROM exposures WHERE at_ms < :cut", cuts["decisions"]),
        "profile_merges": ("SELECT count(*) FROM profile_merges WHERE at_ms < :cut", cuts["merges"]),
    }
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for name, (sql, cut) in queries.items():
            out[name] = 0 if cut is None else int(conn.execute(sa.text(sql), {"cut": cut}).scalar_one())
    return out


def test_purge_leaves_no_expired_row(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(
        tmp_path / "data", store_url,
        retention={"events_days": 30, "quarantine_days": 7, "conflicts_days": 7, "decisions_days": 30,
                   "merges_days": 0},
    )  # fmt: skip
    placement: dict[str, Any] = {
        "channel": "web",
        "slot": "s",
        "variants": [{"id": "a", "content": {"text": "A"}}],
    }
    with LiveServer(settings) as server, server.client() as client:
        admin = server.client(None)
        admin.headers["Authorization"] = "Bearer test-secret-key-0123456789"
        assert admin.put("/v1/placements/s", json=placement).status_code == 200
        client.post("/v1/batch", json=batch(page(anonymousId="a-1"), track(anonymousId="a-1")))
        server.wait_pipeline()
        client.post("/v1/batch", json=batch(identify("u-1", anonymousId="a-1")))
        client.post("/v1/batch", json=batch({"type": "track", "userId": "u-1"}))  # quarantined
        server.wait_pipeline()
        admin.post("/v1/decide", json={"placement": "s", "user_id": "u-1"})
        engine = server.services.engine
        now = SystemClock().now()
        privacy = server.services.capabilities["privacy"]

        # eight days on: only the quarantine (7 days) is past its retention
        privacy.clock = FixedClock(now + timedelta(days=8))
        counts = privacy.purge()
        assert counts["event_quarantine"] == 1
        assert counts["events"] == 0
        assert counts["decisions"] == 0
        assert "profile_merges" not in counts  # 0 days: kept for ever
        assert _expired(engine, settings, utc_ms(now + timedelta(days=8))) == dict.fromkeys(
            ("events", "event_quarantine", "event_conflicts", "decisions", "exposures", "profile_merges"), 0
        )
        # a year on: events and decisions too; nothing expired is left
        later = now + timedelta(days=365)
        privacy.clock = FixedClock(later)
        counts = privacy.purge()
        assert counts["events"] == 3
        assert counts["decisions"] == 1
        assert set(_expired(engine, settings, utc_ms(later)).values()) == {0}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM profile_merges")).scalar_one() == 1
        # the profile summarizes what was purged
        assert admin.get("/v1/profiles/u-1").status_code == 200
        admin.close()


def test_cli_purge(tmp_path: Path, settings: Settings) -> None:
    with LiveServer(settings) as server, server.client() as client:
        client.post("/v1/batch", json=batch(page(anonymousId="p-1")))
        server.wait_pipeline()
    done = run(tmp_path, "privacy", "purge", env=_env(settings))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["events"] == 0  # nothing is two years old


def test_the_server_purges_on_its_schedule(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path / "data", sqlite_url, retention={"purge_every_hours": 0.0003})  # ~1 s
    with LiveServer(settings) as server:
        privacy = server.services.capabilities["privacy"]
        deadline = time.monotonic() + 15
        while privacy.last_purge is None:
            assert time.monotonic() < deadline, "the server did not purge on its schedule"
            time.sleep(0.1)
        assert privacy.last_purge["events"] == 0
