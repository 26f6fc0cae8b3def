"""``surmesure import``: exit codes, the summary, rejected lines, and the imported items
read back over HTTP from a running server."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import orjson
import typer
from rich.console import Console
from typer.testing import CliRunner

from surmesure.catalog import cli
from surmesure.config import Settings

GOOD = "id,title,price,currency,category_path\nc1,Cup,3,EUR,Home > Kitchen\nc2,Bowl,4,EUR,Home/Kitchen\n"
WITH_BAD = GOOD + "c3,,5,EUR,\nc4,Plate,-1,EUR,\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(settings: Settings, path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    fmt = args[0] if args else None
    code = cli.import_command(settings, path, fmt, console=console)
    return code, out.getvalue()


def test_clean_import_exits_0_and_prints_a_summary(settings: Settings, tmp_path: Path) -> None:
    code, output = run(settings, write(tmp_path, "items.csv", GOOD))
    assert code == 0
    assert "records read" in output
    assert "Rejected" not in output


def test_rejected_lines_exit_2_and_are_listed(settings: Settings, tmp_path: Path) -> None:
    code, output = run(settings, write(tmp_path, "items.csv", WITH_BAD))
    assert code == cli.EXIT_REJECTED == 2
    assert "Rejected lines" in output
    lines = [line for line in output.splitlines() if "title: Field required" in line]
    assert len(lines) == 1
    assert " 4 " in lines[0]  # header is line 1, c3 is line 4
    assert any("price:" in line and " 5 " in line for line in output.splitlines())


def test_unknown_format_and_missing_file(settings: Settings, tmp_path: Path) -> None:
    code, output = run(settings, write(tmp_path, "items.xml", "<items/>"))
    assert code == 2
    assert "cannot import" in output
    code, output = run(settings, tmp_path / "missing.csv")
    assert code == 3
    assert "no such file" in output


def test_rejected_ids_are_not_read_as_markup(settings: Settings, tmp_path: Path) -> None:
    code, output = run(settings, write(tmp_path, "items.jsonl", '{"id": "[bold]x[/bold]", "title": ""}\n'))
    assert code == 2
    assert "[bold]x[/bold]" in output


def test_typer_app_mounted_as_import(settings: Settings, tmp_path: Path) -> None:
    main = typer.Typer()

    @main.command()
    def version() -> None:  # a second command, so ``import`` stays a sub-command
        print("0")

    main.add_typer(cli.app, name="import")
    rejects = tmp_path / "rejects.jsonl"
    path = write(tmp_path, "items.txt", '{"id": "j1", "title": "J"}\n{"id": "j2"}\n')

    result = CliRunner().invoke(
        main, ["import", str(path), "--format", "jsonl", "--rejects", str(rejects)], obj=settings
    )
    assert result.exit_code == 2, result.output
    assert "imported" in result.output
    assert [orjson.loads(line) for line in rejects.read_bytes().splitlines()] == [
        {"line": 2, "id": "j2", "reason": "title: Field required"}
    ]

    clean = write(tmp_path, "clean.jsonl", '{"id": "j2", "title": "J2"}\n')
    assert CliRunner().invoke(main, ["import", str(clean)], obj=settings).exit_code == 0


def test_imported_items_are_served_by_the_api(
    settings: Settings, admin: httpx.Client, tmp_path: Path
) -> None:
    code, _ = run(settings, write(tmp_path, "items.csv", WITH_BAD))
    assert code == 2
    page = admin.get("/v1/items").json()
    assert [entry["id"] for entry in page["items"]] == ["c1", "c2"]
    assert admin.get("/v1/items/c2").json()["category_path"] == ["Home", "Kitchen"]
    assert admin.get("/v1/items/c3").status_code == 404
