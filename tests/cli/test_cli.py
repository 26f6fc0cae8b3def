"""The command line, run as a user runs it (a subprocess in a fresh directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from builders import batch, identify, track
from conftest import LiveServer, make_settings


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "surmesure.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_init_writes_random_keys_and_config_show_masks_them(tmp_path: Path) -> None:
    done = run(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    config = (tmp_path / "surmesure.toml").read_text()
    assert 'secret_key = "sk_' in config
    assert (tmp_path / "surmesure.toml").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "surmesure.db").exists()
    secret = config.split('secret_key = "', 1)[1].split('"', 1)[0]
    shown = run(tmp_path, "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert secret not in shown.stdout
    assert json.loads(shown.stdout)["keys"]["secret_key"] == "***"
    again = run(tmp_path, "init")
    assert again.returncode == 4  # refuses to overwrite


def test_profile_show(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path / "data", sqlite_url)
    with LiveServer(settings) as server, server.client() as client:
        client.post("/v1/batch", json=batch(identify("zoe", anonymousId="z-anon"), track(userId="zoe")))
        server.wait_pipeline()
    env = {
        "SURMESURE_STORE__URL": sqlite_url,
        "SURMESURE_IDENTITY__HASH_KEY": "test-identity-hash-key",
    }
    shown = run(tmp_path, "profile", "show", "z-anon", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert {i["value"] for i in view["identifiers"]} == {"zoe", "z-anon"}
    table = run(tmp_path, "profile", "show", "zoe", env=env)
    assert "z-anon" in table.stdout
    missing = run(tmp_path, "profile", "show", "nobody", env=env)
    assert missing.returncode == 3
    assert "profiles.not_found" in missing.stderr


def test_serve_refuses_default_secret(tmp_path: Path) -> None:
    done = run(tmp_path, "serve", "--port", "1")
    assert done.returncode == 2
    assert "config.invalid" in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["import", "--help"], ["demo", "--help"]])
def test_help(tmp_path: Path, args: list[str]) -> None:
    assert run(tmp_path, *args).returncode == 0


def test_server_started_by_the_cli_answers(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SURMESURE_")}
    environment.update({"SURMESURE_DEMO": "true", "SURMESURE_DATA_DIR": str(tmp_path)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "surmesure.cli", "serve", "--port", str(port)], cwd=tmp_path, env=environment
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "surmesure"
    finally:
        proc.terminate()
        proc.wait(10)
