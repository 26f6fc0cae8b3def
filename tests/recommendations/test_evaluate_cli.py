"""``surmesure evaluate``: a table, Markdown, JSON and PNG plots, on an events file or the
store; a known answer (on data whose right recommendations are obvious, a real model
beats popularity); clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from recshop import events, load
from typer.testing import CliRunner, Result

from surmesure.cli import app
from surmesure.errors import InvalidInput, NotFound, SurmesureError

from conftest import SECRET_KEY, LiveServer, make_settings


def _events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events()) + b"\n")
    return path


def test_evaluate_an_events_file_writes_the_table_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--events", str(_events_file(tmp_path)), "--split", "leave-last-out",
         "--models", "popularity,ease", "--out", str(out), "--seed", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "popularity" in result.output
    assert "ease" in result.output
    report = json.loads((out / "evaluation.json").read_text())
    assert report["seed"] == 3
    assert report["k"] == 10
    by_name = {m["name"]: m for m in report["models"]}
    assert set(by_name) == {"popularity", "ease"}
    for model in by_name.values():
        assert model["fit_seconds"] >= 0
        assert {"ndcg@10", "recall@10", "map@10", "hit_rate@10"} <= set(model["metrics"])
    # shoe people only touch shoes, hat people only hats: a personal model must see it
    assert by_name["ease"]["metrics"]["hit_rate@10"] >= by_name["popularity"]["metrics"]["hit_rate@10"]
    table = (out / "evaluation.md").read_text()
    assert "ndcg@10" in table.lower()
    assert table.count("|") > 10
    assert list(out.glob("*.png")), "no plot written"


def test_evaluate_the_store(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, sqlite_url)
    with LiveServer(settings) as server, server.client(SECRET_KEY) as admin:
        load(server, admin)
    monkeypatch.setenv("SURMESURE_DATA_DIR", str(data))
    monkeypatch.setenv("SURMESURE_STORE__URL", sqlite_url)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["evaluate", "--split", "leave-last-out", "--models", "popularity,hybrid", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluation.json").read_text())
    assert report["data"] == "store"
    assert [m["name"] for m in report["models"]] == ["popularity", "hybrid"]


def test_a_split_that_leaves_no_one_to_test_is_refused_and_says_why(tmp_path: Path) -> None:
    same_moment = [{**e, "timestamp": "2026-11-23T10:00:00Z"} for e in events()]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in same_moment) + b"\n")
    # everything happened at one instant: a temporal split has nobody on both sides
    temporal = CliRunner().invoke(app, ["evaluate", "--events", str(path), "--out", str(tmp_path / "r")])
    assert "to test" in _refusal(temporal)  # said by the split itself, or by evaluate


def test_evaluate_refuses_unknown_models_and_splits(tmp_path: Path) -> None:
    path = _events_file(tmp_path)
    unknown_model = CliRunner().invoke(app, ["evaluate", "--events", str(path), "--models", "magic"])
    assert "unknown models" in _refusal(unknown_model, InvalidInput)
    unknown_split = CliRunner().invoke(app, ["evaluate", "--events", str(path), "--split", "random"])
    assert "unknown split" in _refusal(unknown_split, InvalidInput)
    missing = CliRunner().invoke(app, ["evaluate", "--events", str(tmp_path / "absent.jsonl")])
    assert "no such events file" in _refusal(missing, NotFound)


def _refusal(result: Result, kind: type[SurmesureError] = InvalidInput) -> str:
    """The platform error a command ended with (``surmesure.cli.main`` prints it and exits
    with its category's code)."""
    assert result.exit_code != 0
    assert isinstance(result.exception, kind), result.exception
    return str(result.exception)
