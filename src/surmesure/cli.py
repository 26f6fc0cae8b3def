"""The ``surmesure`` command: init, serve, import, demo, train, evaluate, apply, profile
show, config show.

A composition root: settings are loaded here, once, and passed down. Errors of the
platform exit with their category's code (see ``surmesure.errors``).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from surmesure import db
from surmesure.audit import cli as audit_cli
from surmesure.catalog import cli as catalog_cli
from surmesure.config import Settings, load_settings
from surmesure.errors import SurmesureError
from surmesure.privacy import cli as privacy_cli
from surmesure.recommendations import cli as recommendations_cli
from surmesure.recommendations import evaluation_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="surmesure",
    help="Self-hosted personalization: collect, unify, decide.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
profile_app = typer.Typer(help="Read unified profiles.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")
app.add_typer(config_app, name="config")
app.add_typer(catalog_cli.app, name="import")
app.command("train")(recommendations_cli.train_command)


def _build_services(settings: Settings) -> Any:
    from surmesure.app import build_services

    return build_services(settings)


app.add_typer(privacy_cli.make_app(_build_services), name="privacy")
app.command("evaluate")(evaluation_cli.evaluate_command)


def _audit(settings: Settings) -> tuple[Any, Any]:
    from surmesure.app import build_services
    from surmesure.audit.service import Audit

    services = build_services(settings)
    return Audit(services.capabilities["decisions"]), services.close


app.add_typer(audit_cli.build(_audit), name="audit")

console = Console()
err = Console(stderr=True)


@app.callback()
def _root(ctx: typer.Context) -> None:
    ctx.obj = load_settings()


def _settings(ctx: typer.Context) -> Settings:
    value = ctx.obj
    return value if isinstance(value, Settings) else load_settings()


_TOML_TEMPLATE = """# surmesure configuration; every setting is listed in surmesure.example.toml.
# Environment variables (SURMESURE_<SECTION>__<KEY>) override this file.
data_dir = "{data_dir}"

[keys]
write_keys = ["{write_key}"]
secret_key = "{secret_key}"

[identity]
hash_key = "{hash_key}"
"""


@app.command()
def init(
    path: Annotated[Path, typer.Option(help="Where to write the configuration.")] = Path("surmesure.toml"),
    data_dir: Annotated[Path, typer.Option(help="Data directory (store, models).")] = Path("data"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a configuration with fresh random keys and create the store."""
    if path.exists() and not force:
        err.print(f"[red]{path} exists[/red]; use --force to overwrite it")
        raise typer.Exit(4)
    write_key = "wk_" + secrets.token_urlsafe(18)
    path.write_text(
        _TOML_TEMPLATE.format(
            data_dir=data_dir,
            write_key=write_key,
            secret_key="sk_" + secrets.token_urlsafe(32),
            hash_key=secrets.token_urlsafe(32),
        )
    )
    path.chmod(0o600)
    settings = load_settings(data_dir=data_dir)
    engine = db.create_engine(settings.store_url)
    db.upgrade(engine)
    engine.dispose()
    console.print(f"wrote [bold]{path}[/bold] (mode 600) and created the store at {settings.store_url}")
    console.print(f"write key for your site or app: [bold]{write_key}[/bold]")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the HTTP API (and, in demo mode, the demo storefront)."""
    import uvicorn

    from surmesure.app import create_app
    from surmesure.pipeline import tune_gc

    settings = _settings(ctx)
    app_ = create_app(settings)
    tune_gc()
    uvicorn.run(
        app_,
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo store lives.")] = Path("data/demo"),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    people: Annotated[int, typer.Option(help="People in the synthetic shop.")] = 3000,
    items: Annotated[int, typer.Option(help="Items in the synthetic catalogue.")] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
    reset: Annotated[bool, typer.Option(help="Regenerate the demo shop even if loaded.")] = False,
) -> None:
    """Generate the demo shop into an embedded SQLite store and serve it."""
    from surmesure.demo.cli import run_demo

    run_demo(data_dir=data_dir, host=host, port=port, people=people, items=items, seed=seed, reset=reset)


@app.command("apply")
def apply_definitions(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML of segments, placements and experiments.")],
) -> None:
    """Validate and apply segments, placements and experiments (as PUT /v1/definitions)."""
    from surmesure.app import build_services
    from surmesure.decisions.apply import apply, read_file

    document = read_file(file)
    services = build_services(_settings(ctx))
    try:
        versions = apply(services.capabilities["decisions"], document)
    finally:
        services.engine.dispose()
    sys.stdout.write(orjson.dumps(versions, option=orjson.OPT_INDENT_2).decode() + "\n")


@profile_app.command("show")
def profile_show(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="Profile id, user id, anonymous id, email...")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one unified profile."""
    from surmesure.app import build_services

    services = build_services(_settings(ctx))
    view = services.capabilities["profiles"].require(identifier)
    services.engine.dispose()
    if as_json:
        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    _print_profile(view)


def _print_profile(view: dict[str, Any]) -> None:
    console.print(f"[bold]profile {view['profile_id']}[/bold]  created {view['created_at']}")
    ids = Table("type", "value", title="identifiers")
    for ident in view["identifiers"]:
        ids.add_row(ident["type"], ident["value"])
    console.print(ids)
    if view["traits"]:
        traits = Table("trait", "value", title="traits")
        for key, value in sorted(view["traits"].items()):
            traits.add_row(key, str(value))
        console.print(traits)
    feats = Table("feature", "value", title="computed features")
    for key, value in view["features"].items():
        feats.add_row(key, orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value))
    console.print(feats)
    consent = Table("purpose", "allowed", "choice", "at", title="consent")
    for purpose, state in view["consent"].items():
        consent.add_row(purpose, str(state["allowed"]), str(state["granted"]), str(state["at"]))
    console.print(consent)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings, secrets masked."""
    sys.stdout.write(orjson.dumps(_settings(ctx).masked(), option=orjson.OPT_INDENT_2).decode() + "\n")


def main() -> None:
    try:
        app()
    except SurmesureError as error:
        err.print(f"[red]error[/red] {error.code}: {error.message}")
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
