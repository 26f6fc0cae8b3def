"""``surmesure privacy``: export, erase, purge, verify-erasure.

The commands need every capability wired (the ingestion path, the pipeline, the
recommendations' caches): the main CLI, a composition root, passes its way of building
the services to :func:`make_app`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from surmesure.config import Settings, load_settings

__all__ = ["make_app"]

IdTypeOption = Annotated[str | None, typer.Option("--type", help="The kind of identifier.")]
IdentifierArg = Annotated[str, typer.Argument(help="Profile id, user id, anonymous id, email...")]


def _print(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


def make_app(build_services: Callable[[Settings], Any]) -> typer.Typer:
    """The ``privacy`` sub-command group; ``build_services(settings)`` wires the platform."""
    app = typer.Typer(help="Data-subject rights and retention.", no_args_is_help=True)

    def services_of(ctx: typer.Context) -> Any:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
        return build_services(settings)

    @app.command("export")
    def export_command(
        ctx: typer.Context,
        identifier: IdentifierArg,
        id_type: IdTypeOption = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write here, not to stdout.")
        ] = None,
    ) -> None:
        """Everything stored about a person, as one portable JSON (GDPR art. 15, 20)."""
        services = services_of(ctx)
        try:
            document = services.capabilities["privacy"].export(identifier, id_type)
        finally:
            services.engine.dispose()
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
        if output is None:
            sys.stdout.write(data.decode())
        else:
            output.write_bytes(data)
            output.chmod(0o600)

    @app.command("erase")
    def erase_command(
        ctx: typer.Context,
        identifier: IdentifierArg,
        id_type: IdTypeOption = None,
        retrain: Annotated[
            bool,
            typer.Option(
                help="Retrain now if the model may have learned from the person (else the server will)."
            ),
        ] = True,
    ) -> None:
        """Erase a person from every table, cache and model (GDPR art. 17)."""
        services = services_of(ctx)
        privacy = services.capabilities["privacy"]
        try:
            report, person = privacy.erase_person(identifier, id_type, retrain="now" if retrain else "mark")
            # a running server learns the tombstones within privacy.tombstone_refresh_ms:
            # erase once more after that, in case an event of the person was on its way
            time.sleep(2 * services.settings.privacy.tombstone_refresh_ms / 1000)
            report["swept_again"] = privacy.sweep(person)
        finally:
            services.engine.dispose()
        _print(report)

    @app.command("purge")
    def purge_command(ctx: typer.Context) -> None:
        """Delete every row past its retention (`[retention]`)."""
        services = services_of(ctx)
        try:
            counts = services.capabilities["privacy"].purge()
        finally:
            services.engine.dispose()
        _print({"deleted": counts})

    @app.command("verify-erasure")
    def verify_command(
        ctx: typer.Context,
        timeout: Annotated[float, typer.Option(help="Seconds allowed for the whole check.")] = 60.0,
    ) -> None:
        """Plant a canary person, erase it, scan every table and file for it: exit 0 when
        nothing of it is left within the time allowed, 1 otherwise."""
        from surmesure.privacy.verify import verify_erasure

        services = services_of(ctx)
        try:
            report = verify_erasure(services, timeout_s=timeout)
        finally:
            services.close()
        _print(report)
        if not report["ok"]:
            raise typer.Exit(1)

    return app
