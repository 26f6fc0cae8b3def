"""The pipeline: one bad event cannot stop it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from surmesure import db, pipeline
from surmesure.app import build_services
from surmesure.config import Settings
from surmesure.events import store as event_store
from surmesure.profiles import store as profile_store
from surmesure.profiles.unify import Step, Unifier

from builders import track
from conftest import LiveServer, make_settings


class PoisonedUnifier(Unifier):
    """Fails on any batch holding the event named "Poison" (a stand-in for a bug)."""

    def process(self, conn: sa.Connection, rows: Sequence[Any], now_ms: int, step: Step | None = None) -> int:
        if any(row.event == "Poison" for row in rows):
            raise ValueError("cannot digest this event")
        return super().process(conn, rows, now_ms, step)


def test_a_failing_entry_is_set_aside_and_the_rest_flows(tmp_path: Path, store_url: str) -> None:
    services = build_services(make_settings(tmp_path, store_url))
    ingestor = services.capabilities["ingestor"]
    writer = services.capabilities["writer"]
    # commit three separate groups (three outbox entries) without a pipeline running
    writer.start()
    for name in ("Good 1", "Poison", "Good 2"):
        assert ingestor.ingest_sync([track(name, userId=f"user-{name}")], source="test").accepted == 1
    writer.stop()

    step = pipeline.make_step(services.clock, PoisonedUnifier(services.settings))
    outcomes = []
    for _ in range(12):
        try:
            outcomes.append(step(services.engine))
        except ValueError:
            outcomes.append(-1)
        if outcomes[-1] == 0:
            break
    assert -1 in outcomes
    assert outcomes[-1] == 0  # drained
    with services.engine.connect() as conn:
        dead = conn.execute(sa.select(event_store.dead_letters)).mappings().all()
        assert len(dead) == 1
        assert "cannot digest" in dead[0]["error"]
        assert conn.execute(sa.select(sa.func.count()).select_from(event_store.outbox)).scalar_one() == 0
        users = set(conn.execute(sa.select(profile_store.identifiers.c.key)).scalars())
        assert event_store.count_events(conn) == 3  # the poisoned event is still stored
    assert users == {"user_id:user-Good 1", "user_id:user-Good 2"}
    services.engine.dispose()



def test_one_pipeline_worker_per_store_at_a_time(tmp_path: Path, store_url: str) -> None:
    services = build_services(make_settings(tmp_path, store_url))
    engine = services.engine
    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with db.named_lock(engine, "pipeline", should_stop=lambda: False) as leader:
            assert leader
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    gave_up_at = time.monotonic() + 0.3
    with db.named_lock(
        engine, "pipeline", should_stop=lambda: time.monotonic() > gave_up_at, poll_s=0.05
    ) as second:
        assert second is False  # waited its turn, then was told to stop
    release.set()
    thread.join(10)
    with db.named_lock(engine, "pipeline", should_stop=lambda: True) as third:
        assert third is True  # free again
    services.close()


def test_readiness_says_so_when_the_pipeline_worker_stopped(settings: Settings) -> None:
    with LiveServer(settings) as live:
        assert httpx.get(f"{live.url}/readyz").json()["pipeline"] == "running"
        live.services.capabilities["pipeline"].stop()
        response = httpx.get(f"{live.url}/readyz")
        assert response.status_code == 503
        assert response.json()["pipeline"] == "stopped"


def test_a_killed_worker_process_is_started_again_and_nothing_is_lost(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url, pipeline={"mode": "process", "max_delay_ms": 5})
    with LiveServer(settings) as live, live.client() as http:
        pipeline_ = live.services.capabilities["pipeline"]
        first = pipeline_.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (pipeline_.restarts == 0 or not pipeline_.alive) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline_.restarts >= 1
        assert pipeline_.pid != first
        assert http.post("/v1/track", json=track("After Restart", userId="phoenix")).status_code == 200
        live.wait_pipeline(timeout=20)
        with live.services.engine.connect() as conn:
            keys = set(conn.execute(sa.select(profile_store.identifiers.c.key)).scalars())
        assert "user_id:phoenix" in keys
