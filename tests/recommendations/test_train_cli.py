"""``surmesure train`` writes a versioned artifact and points ``current`` at it; older
versions beyond ``keep_versions`` go; a running server swaps the new version in by
itself (it watches the pointer)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from recshop import load
from typer.testing import CliRunner

from surmesure.cli import app
from surmesure.recommendations import artifacts

from conftest import LiveServer, make_settings


def test_train_writes_a_version_and_the_server_swaps_it_in(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    settings = make_settings(
        data, sqlite_url, recommendations={"reload_check_seconds": 0.2, "keep_versions": 1}
    )
    for key, value in {
        "SURMESURE_DATA_DIR": str(data),
        "SURMESURE_STORE__URL": sqlite_url,
        "SURMESURE_RECOMMENDATIONS__KEEP_VERSIONS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    with LiveServer(settings) as server, server.client("test-secret-key-0123456789") as admin:
        load(server, admin)
        assert admin.get("/v1/recommendations").json()["error"]["code"] == "recommendations.no_model"
        runner = CliRunner()
        result = runner.invoke(app, ["train"])
        assert result.exit_code == 0, result.output
        root = artifacts.models_dir(data)
        version = (root / "current").read_text().strip()
        assert version in result.output
        folder = root / version
        assert {p.name for p in folder.iterdir()} >= {
            "manifest.json", "model.npz", "model.json", "together.npz", "together.json",
        }  # fmt: skip
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["version"] == version
        assert manifest["counts"]["items"] == 24
        assert manifest["counts"]["events"] == 40 * 7
        assert manifest["training_seconds"] > 0
        assert len(manifest["item_ids"]) == 24
        assert manifest["params"]["model"]["class"] == "Hybrid"
        _wait_for_version(admin, version)

        second = runner.invoke(app, ["train"])
        assert second.exit_code == 0, second.output
        newer = (root / "current").read_text().strip()
        assert newer != version
        assert artifacts.versions(root) == [newer]
        _wait_for_version(admin, newer)


def _wait_for_version(http: httpx.Client, version: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = http.get("/v1/recommendations", params={"k": 3})
        if response.status_code == 200 and response.json()["model"]["version"] == version:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server did not swap in {version}")


def test_train_on_an_empty_store_says_so(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURMESURE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SURMESURE_STORE__URL", sqlite_url)
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code != 0
    assert getattr(result.exception, "code", None) == "recommendations.nothing_to_train"
    assert not artifacts.versions(artifacts.models_dir(tmp_path / "data"))
