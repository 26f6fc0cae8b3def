"""``surmesure demo``: generate the demo shop into an embedded store (once) and serve it."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from surmesure.app import build_services, create_app
from surmesure.catalog.service import count_items
from surmesure.config import Settings, load_settings
from surmesure.demo.experiment import apply_experiment
from surmesure.demo.load import LoadReport, load_demo
from surmesure.deps import Services
from surmesure.events import store as event_store
from surmesure.pipeline import tune_gc
from surmesure.recommendations import artifacts
from surmesure.recommendations.cli import run_training

__all__ = ["demo_settings", "ensure_demo", "ensure_experiment", "ensure_model", "run_demo"]


def demo_settings(data_dir: Path) -> Settings:
    """Demo mode (demo keys, the storefront) with the store in ``data_dir``."""
    return load_settings(demo=True, data_dir=data_dir)


def _is_empty(services: Services) -> bool:
    with services.engine.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(event_store.events)).scalar_one()
    return count_items(services.engine) == 0 and int(events) == 0


def _remove_sqlite_store(settings: Settings) -> None:
    url = sa.engine.make_url(settings.store_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise SystemExit(
            "--reset removes an embedded SQLite store only; empty the PostgreSQL database by hand"
        )
    database = Path(url.database)
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)


def ensure_demo(
    settings: Settings,
    *,
    people: int = 3000,
    items: int = 2000,
    seed: int = 42,
    reset: bool = False,
    console: Console | None = None,
) -> LoadReport | None:
    """Load the demo shop into the store of ``settings`` when it is empty (or ``reset``);
    None when there was already data."""
    console = console or Console()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if reset:
        _remove_sqlite_store(settings)
        shutil.rmtree(artifacts.models_dir(settings.data_dir), ignore_errors=True)
    services = build_services(settings)
    try:
        if not _is_empty(services):
            console.print(
                f"[dim]The store in {settings.data_dir} already holds data: not regenerating "
                "(use --reset to start over).[/]"
            )
            return None
        console.print(f"Generating the demo shop: {people} people, {items} items, seed {seed}...")
        report = load_demo(services, people=people, items=items, seed=seed, console=console)
        console.print(
            f"Loaded {report.items} items and {report.events_accepted} events "
            f"({report.quarantined} quarantined) in {report.total_seconds:.1f} s."
        )
        return report
    finally:
        services.close()


def ensure_model(settings: Settings, console: Console) -> None:
    """Train the recommendation model when the demo has none yet (or was reset)."""
    if artifacts.current_version(artifacts.models_dir(settings.data_dir)) is None:
        run_training(settings, console)


def ensure_experiment(settings: Settings, console: Console) -> None:
    """Apply the home banner's placement and A/B/n experiment (unchanged: same versions)."""
    services = build_services(settings)
    try:
        versions = apply_experiment(services)
    finally:
        services.close()
    console.print(f"Live experiment on the home banner: {versions['experiments']} (see /demo/experiment)")


def run_demo(
    *,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    people: int = 3000,
    items: int = 2000,
    seed: int = 42,
    reset: bool = False,
) -> None:
    """Load the demo shop if the store is empty (or ``reset``), then serve it until Ctrl-C."""
    import uvicorn

    console = Console()
    settings = demo_settings(data_dir)
    ensure_demo(settings, people=people, items=items, seed=seed, reset=reset, console=console)
    ensure_model(settings, console)
    ensure_experiment(settings, console)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only a display choice
    console.print(
        f"\n[bold green]Demo shop:[/] http://{shown}:{port}/   "
        f"[bold]profiles:[/] http://{shown}:{port}/demo/profile   "
        f"[bold]API docs:[/] http://{shown}:{port}/docs\n"
        "[dim]Demo keys only: never expose this server to the internet. Ctrl-C to stop.[/]"
    )
    app = create_app(settings)
    tune_gc()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
