"""``surmesure train``: train the default model on the store, with a progress bar."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from surmesure import db
from surmesure.config import Settings, load_settings

from .training import STAGES, Progress, train

__all__ = ["run_training", "train_command"]


def run_training(settings: Settings, console: Console | None = None) -> dict[str, object]:
    """Train with a progress bar; returns the new version's manifest."""
    console = console or Console()
    engine = db.create_engine(settings.store_url, sqlite_synchronous=settings.store.sqlite_synchronous)
    db.upgrade(engine)
    bars = Bars(
        TextColumn("[bold]training[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console,
    )  # fmt: skip
    try:
        with bars:
            task = bars.add_task("", total=len(STAGES))

            def show(p: Progress) -> None:
                bars.update(task, completed=p.step - 1, description=f"{p.stage} {p.detail}")

            manifest = train(engine, settings, on_progress=show)
            bars.update(task, completed=len(STAGES), description="saved")
    finally:
        engine.dispose()
    counts = manifest["counts"]
    console.print(
        f"Version [bold]{manifest['version']}[/]: {counts['items']:,} items, {counts['people']:,} people, "
        f"{counts['interactions']:,} interactions from {counts['events']:,} events, "
        f"trained in {manifest['training_seconds']:.1f} s; now current."
    )
    return manifest


def train_command(ctx: typer.Context) -> None:
    """Train the recommendation model on the store and make it the served version."""
    settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
    run_training(settings)
