"""``surmesure import PATH [--format csv|jsonl|json] [--rejects FILE]``: import a
catalogue file, with a progress bar (percent of the file's bytes, rows per second).

The main CLI mounts :data:`app` with ``app.add_typer(catalog.cli.app, name="import")``;
the import is the group's callback, so the command reads ``surmesure import PATH``.
Settings come from the context object when the main CLI put a
:class:`~surmesure.config.Settings` there (``ctx.obj``), else from the environment
and ``surmesure.toml``. Callers that hold settings can use :func:`import_command`.

Prints a summary table and the rejected lines (the first 100; ``--rejects FILE``
writes them all as JSON lines). Exit code: 0 when every record was imported, 2 when
some were rejected (the others are imported), else the error's exit code.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from surmesure import db
from surmesure.catalog import service
from surmesure.catalog.errors import ImportFileNotFound
from surmesure.catalog.files import guess_format
from surmesure.config import Settings, load_settings
from surmesure.errors import SurmesureError

__all__ = ["EXIT_REJECTED", "FileFormat", "app", "import_command"]

#: some records were rejected (the others were imported)
EXIT_REJECTED = 2
_SHOWN_REJECTIONS = 100

app = typer.Typer(
    help="Import a catalogue file (CSV, JSON lines or a JSON array).",
    no_args_is_help=True,
    # a group stops reading options at its first argument; ``import PATH --format x`` must work
    context_settings={"allow_interspersed_args": True},
)


class FileFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"


def import_command(
    settings: Settings,
    path: Path,
    format: str | None = None,
    *,
    rejects: Path | None = None,
    console: Console | None = None,
) -> int:
    """Import ``path`` into the store of ``settings``; print progress and a summary;
    return the exit code (0, :data:`EXIT_REJECTED`, or the error's exit code)."""
    console = console or Console()
    try:
        # checked before the store is opened and the progress bar drawn
        guess_format(path, format)
        if not path.is_file():
            raise ImportFileNotFound(f"no such file: {path}", path=str(path))
        engine = db.create_engine(settings.store_url)
        try:
            db.upgrade(engine)
            report = _run(engine, path, format, console)
        finally:
            engine.dispose()
    except SurmesureError as error:
        console.print(Text.assemble(("error: ", "bold red"), error.message))
        return error.exit_code
    _print_summary(report, console)
    if report.rejected:
        _print_rejections(report, console, rejects)
    return EXIT_REJECTED if report.rejected else 0


def _run(engine: sa.Engine, path: Path, format: str | None, console: Console) -> service.ImportReport:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TextColumn("{task.fields[rate]:>8,.0f} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"import {path.name}", total=None, rows=0, rate=0.0)
        started = time.monotonic()

        def on_progress(state: service.ImportProgress) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task,
                total=max(state.bytes_total, 1),
                completed=state.bytes_read,
                rows=state.records,
                rate=state.records / elapsed,
            )

        return service.import_file(engine, path, format=format, on_progress=on_progress)


def _print_summary(report: service.ImportReport, console: Console) -> None:
    rate = report.records / report.duration_s if report.duration_s > 0 else 0.0
    table = Table(title=f"Import of {report.path} ({report.format})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("records read", f"{report.records:,}")
    table.add_row("imported", f"{report.imported:,}")
    table.add_row("  created", f"{report.created:,}")
    table.add_row("  updated", f"{report.updated:,}")
    table.add_row(
        Text("rejected", style="red" if report.rejected else ""),
        Text(f"{len(report.rejected):,}", style="bold red" if report.rejected else ""),
    )
    table.add_row("duration", f"{report.duration_s:.2f} s ({rate:,.0f} rows/s)")
    console.print(table)


def _print_rejections(report: service.ImportReport, console: Console, rejects: Path | None) -> None:
    table = Table(title="Rejected lines (not imported)", title_style="bold red")
    table.add_column("line", justify="right")
    table.add_column("id")
    table.add_column("reason", overflow="fold")
    for rejection in report.rejected[:_SHOWN_REJECTIONS]:
        # Text, not markup: ids and reasons come from the file
        table.add_row(str(rejection.line), Text(rejection.item_id or "-"), Text(rejection.reason))
    console.print(table)
    hidden = len(report.rejected) - _SHOWN_REJECTIONS
    if rejects is not None:
        with rejects.open("wb") as out:
            for rejection in report.rejected:
                out.write(
                    orjson.dumps(
                        {"line": rejection.line, "id": rejection.item_id, "reason": rejection.reason}
                    )
                    + b"\n"
                )
        console.print(Text(f"all {len(report.rejected)} rejected lines written to {rejects}"))
    elif hidden > 0:
        console.print(Text(f"... and {hidden} more; --rejects FILE writes them all"))


@app.callback(invoke_without_command=True)
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A .csv, .jsonl/.ndjson or .json file of items.", dir_okay=False),
    ],
    format: Annotated[
        FileFormat | None,
        typer.Option("--format", "-f", help="Override the format guessed from the suffix."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Write every rejected line (line, id, reason) to this JSONL file."),
    ] = None,
) -> None:
    """Import items from PATH; each line is validated and bad lines are reported."""
    settings = ctx.find_object(Settings) or load_settings()
    code = import_command(settings, path, format.value if format else None, rejects=rejects)
    raise typer.Exit(code)
