"""Fixtures over real parts: an SQLite file and a PostgreSQL schema, a live server on
loopback. With CI=true an unreachable PostgreSQL fails the run instead of skipping."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from surmesure.app import create_app
from surmesure.config import Settings

WRITE_KEY = "test-write-key"
SECRET_KEY = "test-secret-key-0123456789"
PG_URL = os.environ.get("SURMESURE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as error:
        return str(error).splitlines()[0]


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is unreachable under CI=true: {problem}")
        pytest.skip(f"PostgreSQL is unreachable: {problem}")
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _pg_schema_url(pg_admin: sa.Engine) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        pg_admin = request.getfixturevalue("pg_admin")
        yield from _pg_schema_url(pg_admin)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def make_settings(data_dir: Path, store_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "store": {"url": store_url, "sqlite_synchronous": "NORMAL"},
        "keys": {"write_keys": [WRITE_KEY], "secret_key": SECRET_KEY},
        "identity": {"hash_key": "test-identity-hash-key"},
        # a thread starts in milliseconds, a process in about a second; the process
        # mode is covered by the tests that run `surmesure serve` (tests/e2e)
        "pipeline": {"mode": "thread", "max_delay_ms": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(tmp_path / "data", store_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving ``create_app(settings)`` on a loopback port, in a thread."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, **app_options)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self, key: str | None = WRITE_KEY) -> httpx.Client:
        auth = (key, "") if key else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)

    def wait_pipeline(self, timeout: float = 5.0) -> None:
        """Block until every committed event went through the pipeline."""
        writer = self.services.capabilities["writer"]
        pipeline = self.services.capabilities["pipeline"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if writer.queue_empty() and pipeline.backlog() == 0:
                return
            time.sleep(0.01)
        raise AssertionError(f"pipeline still has {pipeline.backlog()} events after {timeout}s")


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    """A client holding the secret key."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=30
    ) as http:
        yield http
