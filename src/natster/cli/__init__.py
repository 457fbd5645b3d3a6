"""The ``natster`` command: thin commands over :mod:`natster.client` and :mod:`natster.hub`."""

from __future__ import annotations

import os
import sys

import typer

from natster import __version__

from . import account, catalog, device, hub, people, search, web

app = typer.Typer(
    name="natster",
    help="Secure media sharing built on nothing but NATS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(hub.app, name="hub")
app.add_typer(catalog.app, name="catalog")
app.add_typer(device.app, name="device")
app.command("init")(account.init)
app.command("whoami")(account.whoami_command)
app.command("stats")(account.stats_command)
app.command("web")(web.web)
app.command("login")(web.login)
app.command("search")(search.search)
app.command("people")(people.people)


def _version(value: bool) -> None:
    if value:
        print(f"natster {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """Secure media sharing built on nothing but NATS."""


def main() -> None:
    """Entry point: a bug still ends in one line (set NATSTER_DEBUG=1 for the traceback)."""
    try:
        app()
    except Exception as exc:
        if os.environ.get("NATSTER_DEBUG"):
            raise
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "run again with NATSTER_DEBUG=1 for details\n"
        )
        sys.exit(1)
