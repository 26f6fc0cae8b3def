"""``surmesure audit fairness`` and ``surmesure audit bubble``: the audits' reports,
as JSON on stdout or a self-contained HTML page (``--out report.html``).

The composition root (``surmesure.cli``) passes how to build an :class:`Audit` from the
settings (it owns the services), so this module imports no composition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from surmesure.audit.report import bubble_html, fairness_html
from surmesure.audit.service import Audit
from surmesure.config import Settings, load_settings

__all__ = ["AuditFactory", "build"]

#: settings -> (the audit, what to call when done)
AuditFactory = Callable[[Settings], tuple[Audit, Callable[[], None]]]
console = Console()


def _emit(report: dict[str, Any], html: str | None, out: Path | None) -> None:
    if out is None:
        console.print_json(orjson.dumps(report).decode())
        return
    if out.suffix.lower() in (".html", ".htm") and html is not None:
        out.write_text(html, encoding="utf-8")
    else:
        out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    console.print(f"report written to {out}")


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else load_settings()


def build(factory: AuditFactory) -> typer.Typer:
    """The ``audit`` sub-app, building its :class:`Audit` with ``factory``."""
    app = typer.Typer(help="Fairness audits and the filter-bubble monitor.", no_args_is_help=True)

    @app.command("fairness")
    def fairness_command(
        ctx: typer.Context,
        placement: Annotated[str | None, typer.Option(help="A placement's id.")] = None,
        segment: Annotated[str | None, typer.Option(help="A segment's id.")] = None,
        experiment: Annotated[str | None, typer.Option(help="An experiment's id.")] = None,
        attribute: Annotated[
            str | None, typer.Option(help="One protected attribute (default: all declared).")
        ] = None,
        days: Annotated[int | None, typer.Option(help="Only the last days of decisions.")] = None,
        out: Annotated[
            Path | None, typer.Option(help="Write report.html (or .json) instead of printing JSON.")
        ] = None,
    ) -> None:
        """Who was shown what by protected attribute, disparities, and alerts (exit 1 on an alert)."""
        audit, close = factory(_settings(ctx))
        try:
            report = audit.fairness(
                placement=placement, segment=segment, experiment=experiment, attribute=attribute, days=days
            )
        finally:
            close()
        _emit(report, fairness_html(report) if out else None, out)
        for alert in report["alerts"]:
            console.print(f"[red]{alert['message']}[/red]")
        if report["alert"]:
            raise typer.Exit(1)

    @app.command("bubble")
    def bubble_command(
        ctx: typer.Context,
        person: Annotated[str | None, typer.Option(help="One person, by any identifier.")] = None,
        weeks: Annotated[int | None, typer.Option(help="Only the last weeks.")] = None,
        out: Annotated[
            Path | None, typer.Option(help="Write report.html (or .json) instead of printing JSON.")
        ] = None,
    ) -> None:
        """How narrow what people were shown has become, week by week; people flagged."""
        audit, close = factory(_settings(ctx))
        try:
            report = audit.bubble(person=person, weeks=weeks)
        finally:
            close()
        _emit(report, bubble_html(report) if out else None, out)

    return app
