"""Fresh stores, a ``surmesure serve`` subprocess, the bare-insert ceiling and the
after-run check of what the store holds."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure import db
from surmesure.access.domain import source_name
from surmesure.config import IngestSettings, PrivacySettings
from surmesure.events import store as event_store
from surmesure.events.domain import Limits, Normalized, normalize
from surmesure.profiles import store as profile_store

__all__ = [
    "PG_URL",
    "WRITE_KEY",
    "Server",
    "analyze",
    "ceiling_rows",
    "fresh_store",
    "insert_ceiling",
    "pg_reachable",
    "pg_settings",
    "verify_store",
]

PG_URL = os.environ.get("SURMESURE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WRITE_KEY = "bench-write-key"
SECRET_KEY = "bench-secret-key-0123456789"
HASH_KEY = "bench-identity-hash-key"


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as error:
        return str(error).splitlines()[0]
    return None


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """An empty store URL: an SQLite file in a temp dir, or a PostgreSQL schema (dropped after)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="surmesure-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'store.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(url: str, synchronous: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    env.update(
        SURMESURE_STORE__URL=url,
        SURMESURE_STORE__SQLITE_SYNCHRONOUS=synchronous,
        SURMESURE_DATA_DIR=str(data_dir),
        SURMESURE_KEYS__WRITE_KEYS=orjson.dumps([WRITE_KEY]).decode(),
        SURMESURE_KEYS__SECRET_KEY=SECRET_KEY,
        SURMESURE_IDENTITY__HASH_KEY=HASH_KEY,
        SURMESURE_CONFIG=str(data_dir / "absent.toml"),
    )
    return env


@dataclass
class Server:
    """``python -m surmesure.cli serve`` on a free loopback port, with its CPU time readable."""

    url: str
    synchronous: str = "FULL"
    switch_interval: float | None = None  # sys.setswitchinterval in the server; None: Python's 5 ms
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def command(self) -> list[str]:
        serve = ["serve", "--port", str(self.port)]
        if self.switch_interval is None:
            return [sys.executable, "-m", "surmesure.cli", *serve]
        launcher = (
            "import sys; sys.setswitchinterval(float(sys.argv[1])); "
            "sys.argv = ['surmesure', *sys.argv[2:]]; "
            "from surmesure.cli import main; main()"
        )
        return [sys.executable, "-c", launcher, str(self.switch_interval), *serve]

    def __enter__(self) -> Server:
        self._tmp = tempfile.TemporaryDirectory(prefix="surmesure-serve-")
        data_dir = Path(self._tmp.name)
        self.port = _free_port()
        self._log = open(data_dir / "server.log", "wb")
        self.process = subprocess.Popen(
            self.command(),
            env=server_env(self.url, self.synchronous, data_dir),
            cwd=data_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start within 60 s") from None
                time.sleep(0.05)
        return self

    def log_tail(self, n: int = 4000) -> str:
        path = Path(self._tmp.name) / "server.log"
        return path.read_bytes()[-n:].decode("utf-8", "replace") if path.exists() else ""

    def cpu_seconds(self) -> float:
        """CPU (user + system) of the server process itself."""
        assert self.process is not None
        return _cpu_of(self.process.pid)

    def children_cpu_seconds(self) -> float:
        """CPU of the server's child processes (the pipeline worker), while they run."""
        assert self.process is not None
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        self._tmp.cleanup()


def _limits() -> Limits:
    # as surmesure.pipeline.build_capabilities builds them from the server's settings
    # (defaults, plus the hash key the server gets; no environment is read here)
    ingest, privacy = IngestSettings(), PrivacySettings()
    return Limits(
        max_event_bytes=ingest.max_event_bytes,
        max_future_skew_ms=ingest.max_future_skew_seconds * 1000,
        known_types=frozenset(ingest.known_event_types),
        ip_mode=privacy.ip_mode,
        ip_key=HASH_KEY,
    )


def ceiling_rows(
    batches: list[list[dict[str, Any]]], *, sent_at: datetime | None = None
) -> list[list[dict[str, Any]]]:
    """The rows the server would store for these batches, built as ``Ingestor.prepare`` does."""
    limits = _limits()
    source = source_name(WRITE_KEY)
    out: list[list[dict[str, Any]]] = []
    for batch in batches:
        received = datetime.now(UTC)
        commit_id = uuid.uuid4().hex
        rows = []
        for item in batch:
            result = normalize(
                item,
                received=received,
                limits=limits,
                source=source,
                batch_sent_at=sent_at,
                client_ip="127.0.0.1",
            )
            if not isinstance(result, Normalized):
                raise RuntimeError(f"the benchmark sent an invalid event: {result.code} {result.reason}")
            rows.append({**result.row, "commit_id": commit_id})
        out.append(rows)
    return out


def insert_ceiling(url: str, batches: list[list[dict[str, Any]]], synchronous: str) -> float:
    """Seconds to insert ``batches`` with a bare executemany, one transaction per batch."""
    engine = db.create_engine(url, sqlite_synchronous=synchronous)
    try:
        db.upgrade(engine)
        insert = event_store.events.insert()
        with engine.connect():
            pass  # open the pooled connection (and its PRAGMAs) before the clock starts
        start = time.perf_counter()
        for rows in batches:
            with engine.begin() as conn:
                conn.execute(insert, rows)
        return time.perf_counter() - start
    finally:
        engine.dispose()


def pg_settings() -> dict[str, str]:
    """The server settings that change what a PostgreSQL run means."""
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return {
                name: str(conn.execute(sa.text(f"SHOW {name}")).scalar_one())
                for name in ("server_version", "autovacuum", "synchronous_commit", "fsync", "shared_buffers")
            }
    finally:
        engine.dispose()


def analyze(url: str) -> None:
    """ANALYZE every table of the store's schema, as autovacuum would once a table has grown.

    Without statistics the planner takes a never-analyzed table for tiny and scans it
    whole for each messageId lookup, which makes ingestion quadratic.
    """
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            for table in list(tables):
                conn.execute(sa.text(f'ANALYZE "{table}"'))
            conn.commit()
    finally:
        engine.dispose()


def verify_store(url: str) -> dict[str, int]:
    """What the store holds after a run: events, outbox rows, quarantine, profiled events."""
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            events = event_store.count_events(conn)
            distinct = conn.execute(
                sa.select(sa.func.count(sa.distinct(event_store.events.c.message_id)))
            ).scalar_one()
            outbox = conn.execute(sa.select(sa.func.count()).select_from(event_store.outbox)).scalar_one()
            quarantined = event_store.count_quarantine(conn)
            live = conn.execute(
                sa.select(profile_store.profiles.c.features).where(
                    profile_store.profiles.c.merged_into.is_(None)
                )
            ).scalars()
            profiled = 0
            profiles = 0
            for features in live:
                profiles += 1
                profiled += sum(features["counts"].values())
    finally:
        engine.dispose()
    return {
        "events": int(events),
        "distinct_message_ids": int(distinct),
        "outbox": int(outbox),
        "quarantined": int(quarantined),
        "profiles": profiles,
        "profiled_events": profiled,
    }
