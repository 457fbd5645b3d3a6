"""The ``natster`` command: thin commands over :mod:`natster.client` and :mod:`natster.hub`."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import typer
import typer.core
import typer.main

from natster import __version__
from natster.errors import NatsterError

from . import account, background, catalog, device, hub, hub_admin, people, search, web
from ._out import fail

app = typer.Typer(
    rich_markup_mode=None,
    name="natster",
    help="Secure media sharing built on nothing but NATS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
hub.app.command("people")(hub_admin.people)
hub.app.command("remove")(hub_admin.remove)
hub.app.command("invites")(hub_admin.invites)
hub.app.command("service")(hub_admin.service)
hub.app.command("context")(hub_admin.context)
hub.app.command("backup")(hub_admin.backup)
hub.app.command("restore")(hub_admin.restore)
hub.app.command("log")(hub_admin.log)
app.add_typer(hub.app, name="hub")
app.add_typer(catalog.app, name="catalog")
app.add_typer(device.app, name="device")
app.add_typer(background.app, name="autostart")
app.add_typer(background.context_app, name="context")
app.command("serve")(background.serve)
app.command("init")(account.init)
app.command("whoami")(account.whoami_command)
app.command("rename")(account.rename)
app.command("leave")(account.leave)
app.command("backup")(account.backup)
app.command("stats")(account.stats_command)
app.command("web")(web.web)
app.command("login")(web.login)
app.command("search")(search.search)
app.command("people")(people.people)


def _version(value: bool) -> None:
    if value:
        print(f"natster {__version__}")
        print(f"nats-server {_nats_server_version()}")
        raise typer.Exit()


def _nats_server_version() -> str:
    """The version of the nats-server `hub up` would run, and where it is."""
    import subprocess

    from natster.hub.process.binary import find_nats_server

    try:
        binary = find_nats_server()
        said = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (NatsterError, OSError, subprocess.SubprocessError) as exc:
        return f"not found ({exc})"
    version = said.strip().rsplit(" ", 1)[-1].lstrip("v") or "of an unknown version"
    return f"{version} ({binary})"


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """Secure media sharing built on nothing but NATS."""


# What a value is called in --help, as people write it (never Python's <str> or <bool>).
_METAVARS = {
    "advertise": "URL",
    "all_": "DIR",
    "as_": "NAME",
    "catalog": "FOLDER",
    "cluster_port": "PORT",
    "device": "CODE",
    "direct": "PORT",
    "dir": "DIR",
    "expires": "DURATION",
    "join": "TOKEN",
    "kind": "video|audio|image|document",
    "log_format": "text|json",
    "metrics_port": "PORT",
    "monitor_port": "PORT",
    "nats_server": "PATH",
    "node": "NAME",
    "owner": "WHO",
    "path": "FOLDER",
    "search": "TEXT",
    "tls_ca": "FILE",
    "tls_cert": "FILE",
    "tls_key": "FILE",
    "ttl": "DURATION",
    "url": "URL",
    "web_port": "PORT",
    "ws_port": "PORT",
}


class _Argument(typer.core.TyperArgument):
    """An argument as click shows it: NAME (required) or [NAME], no Python type.

    (typer >= 0.24 vendors click as a private module: the click types are ``Any`` here.)
    """

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required else f"[{name}]"


def _label(command: Any) -> None:
    """Give every value a metavar: arguments by their name (NAME), options by what they
    take (--dir DIR); flags show none."""
    for sub in getattr(command, "commands", {}).values():
        _label(sub)
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False) or param.name is None:
            continue
        if isinstance(param, typer.core.TyperArgument):
            param.__class__ = _Argument
            param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
        else:
            param.metavar = _METAVARS.get(param.name, param.name.upper())


def command() -> Any:
    """The natster command, labelled for --help."""
    cli = typer.main.get_command(app)
    _label(cli)
    return cli


def main() -> None:
    """Entry point: a bug still ends in one line (set NATSTER_DEBUG=1 for the traceback)."""
    try:
        command()(prog_name="natster")
    except NatsterError as exc:  # raised outside a command's run(): still one line
        with contextlib.suppress(typer.Exit):
            fail(str(exc))
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("NATSTER_DEBUG"):
            raise
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "run again with NATSTER_DEBUG=1 for details\n"
        )
        sys.exit(1)
