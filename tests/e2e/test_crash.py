"""Nothing acknowledged is lost or duplicated when the server is killed mid-load.

A ``surmesure serve`` subprocess takes batches from a few client threads, each of
which records the messageIds of every batch answered 2xx. After some hundreds of
acknowledgements the server gets SIGKILL (no shutdown, no drain) and is started
again on the same store and port. The clients retry every batch that was not
acknowledged — the same messageIds and content, as Segment's libraries do — until
all are. Then, read from the store: every acknowledged messageId is there exactly
once, no retry duplicated anything, and after the restart the pipeline caught up:
every event is counted in exactly one live profile.

SQLite runs with ``synchronous=NORMAL``: WAL then survives a process crash (not a
power loss), and NORMAL is the weaker of the two settings, so it is the one to test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from surmesure.events import store as event_store
from surmesure.profiles import store as profile_store

from conftest import SECRET_KEY, WRITE_KEY, free_port

pytestmark = pytest.mark.slow

THREADS = 4
BATCHES_PER_THREAD = 120
EVENTS_PER_BATCH = 5
PEOPLE = 120
KILL_AFTER_ACKS = 200  # acknowledged batches before the SIGKILL
DEADLINE_S = 45.0
RETRYABLE = frozenset({429, 500, 502, 503, 504})


def _events(thread: int) -> list[list[dict[str, Any]]]:
    """The batches one client thread sends: a shop's traffic, people identifying midway."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    batches: list[list[dict[str, Any]]] = []
    n = 0
    for _ in range(BATCHES_PER_THREAD):
        batch = []
        for _k in range(EVENTS_PER_BATCH):
            person = (thread * 7919 + n * 31) % PEOPLE
            event: dict[str, Any] = {
                "messageId": f"crash-{thread}-{n:05d}",
                "anonymousId": f"anon-{person}",
                "timestamp": (start + timedelta(milliseconds=n * 10 + thread)).isoformat(),
            }
            if n % 9 == 4:
                event.update(type="identify", userId=f"user-{person}", traits={"plan": "pro"})
            elif n % 3 == 0:
                event.update(type="page", name="Home", properties={"path": "/"})
            else:
                event.update(
                    type="track",
                    event="Product Viewed",
                    properties={"product_id": f"p{n % 40}", "category": "Shoes", "brand": "Acme"},
                )
            batch.append(event)
            n += 1
        batches.append(batch)
    return batches


@dataclass
class Load:
    """What the clients saw: acknowledged messageIds, retries, unexpected answers."""

    acked: list[str] = field(default_factory=list)
    acked_batches: int = 0
    retried_batches: set[tuple[int, int]] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(url: str, thread: int, batches: list[list[dict[str, Any]]], load: Load, stop_at: float) -> None:
    with httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=10) as http:
        i = 0
        while i < len(batches) and time.monotonic() < stop_at:
            body = {"batch": batches[i], "sentAt": datetime.now(UTC).isoformat()}
            try:
                response = http.post("/v1/batch", content=orjson.dumps(body))
            except httpx.TransportError:  # killed mid-request, or not listening yet
                with load.lock:
                    load.retried_batches.add((thread, i))
                time.sleep(0.05)
                continue
            if response.status_code in RETRYABLE:
                with load.lock:
                    load.retried_batches.add((thread, i))
                time.sleep(0.05)
                continue
            if not 200 <= response.status_code < 300:
                with load.lock:
                    load.errors.append(f"{response.status_code} {response.text[:300]}")
                return
            with load.lock:
                load.acked.extend(e["messageId"] for e in batches[i])
                load.acked_batches += 1
            i += 1


class Server:
    """``python -m surmesure.cli serve`` on a fixed loopback port."""

    def __init__(self, store_url: str, data_dir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
        self.env.update(
            SURMESURE_STORE__URL=store_url,
            SURMESURE_STORE__SQLITE_SYNCHRONOUS="NORMAL",
            SURMESURE_DATA_DIR=str(data_dir),
            SURMESURE_KEYS__WRITE_KEYS=orjson.dumps([WRITE_KEY]).decode(),
            SURMESURE_KEYS__SECRET_KEY=SECRET_KEY,
            SURMESURE_IDENTITY__HASH_KEY="crash-test-identity-hash-key",
            SURMESURE_CONFIG=str(data_dir / "absent.toml"),
        )
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "surmesure.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the server did not start within 30 s:\n{self.log()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def children(self) -> list[int]:
        """Processes the server started (the pipeline worker), from /proc."""
        assert self.process is not None
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_bytes()[-4000:].decode("utf-8", "replace") if path.exists() else ""

    def wait_pipeline(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        backlog = -1
        while time.monotonic() < deadline:
            backlog = httpx.get(f"{self.url}/readyz", timeout=5).json()["pipeline_backlog"]
            if backlog == 0:
                return 0
            time.sleep(0.05)
        return backlog


@pytest.fixture
def crash_server(store_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(store_url, tmp_path, free_port())
    try:
        yield server
    finally:
        server.kill()


def test_sigkill_mid_load_loses_and_duplicates_nothing_acknowledged(
    crash_server: Server, store_url: str
) -> None:
    plan = {t: _events(t) for t in range(THREADS)}
    sent = [e for batches in plan.values() for batch in batches for e in batch]
    load = Load()
    stop_at = time.monotonic() + DEADLINE_S
    crash_server.start()
    clients = [
        threading.Thread(target=_client, args=(crash_server.url, t, plan[t], load, stop_at), daemon=True)
        for t in range(THREADS)
    ]
    for thread in clients:
        thread.start()
    while load.acked_batches < KILL_AFTER_ACKS and time.monotonic() < stop_at and not load.errors:
        time.sleep(0.002)
    workers = crash_server.children()
    assert workers, "the server runs no pipeline worker process"
    crash_server.kill()
    with load.lock:
        acked_before_kill = list(load.acked)
    assert not load.errors, load.errors[:3]
    assert KILL_AFTER_ACKS * EVENTS_PER_BATCH <= len(acked_before_kill) < len(sent), "not killed mid-load"

    # the worker notices its server is gone and exits, so the next one can take over: at
    # once when it runs (a watcher thread), or as soon as it has started, for a worker
    # killed while still importing its modules (seconds, on a loaded machine)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not orphans, f"pipeline workers {orphans} outlived their server"
    crash_server.start()
    for thread in clients:
        thread.join(max(stop_at - time.monotonic(), 0) + 15)
    assert not load.errors, load.errors[:3]
    assert len(load.acked) == len(sent), f"only {len(load.acked)} of {len(sent)} events acknowledged"
    assert load.retried_batches, "no batch was interrupted: the crash did not happen under load"
    assert crash_server.wait_pipeline() == 0, "the pipeline did not catch up after the restart"

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            per_id = Counter(
                dict(
                    conn.execute(
                        sa.select(event_store.events.c.message_id, sa.func.count()).group_by(
                            event_store.events.c.message_id
                        )
                    ).all()
                )
            )
            outbox = conn.execute(sa.select(sa.func.count()).select_from(event_store.outbox)).scalar_one()
            quarantined = event_store.count_quarantine(conn)
            conflicts = conn.execute(
                sa.select(sa.func.count()).select_from(event_store.conflicts)
            ).scalar_one()
            live_features = conn.execute(
                sa.select(profile_store.profiles.c.features).where(
                    profile_store.profiles.c.merged_into.is_(None)
                )
            ).scalars()
            profiled = sum(sum(f["counts"].values()) for f in live_features)
    finally:
        engine.dispose()

    missing = [m for m in acked_before_kill if per_id[m] == 0]
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
    duplicated = {m: n for m, n in per_id.items() if n != 1}
    assert not duplicated, f"{len(duplicated)} messageIds stored more than once, e.g. {list(duplicated)[:5]}"
    assert set(per_id) == {e["messageId"] for e in sent}
    assert (outbox, quarantined, conflicts) == (0, 0, 0)
    assert profiled == len(sent), f"profiles count {profiled} events, the log holds {len(sent)}"

    # and as a person reads it: each sampled profile counts exactly that person's events
    by_person = Counter(e["anonymousId"] for e in sent)
    with httpx.Client(base_url=crash_server.url, headers={"Authorization": f"Bearer {SECRET_KEY}"}) as admin:
        for anon in sorted(by_person)[:5]:
            response = admin.get(f"/v1/profiles/{anon}", params={"type": "anonymous_id"})
            assert response.status_code == 200, response.text
            counts = response.json()["features"]["event_counts"]
            assert sum(counts.values()) == by_person[anon], (anon, counts)
    crash_server.stop()
