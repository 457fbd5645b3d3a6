"""``natster serve`` and ``natster autostart`` (catalogs served in the background), and
``natster context export`` (this machine's user for the `nats` CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._out import (
    DirectOption,
    JsonOption,
    LogFormatOption,
    LogVerboseOption,
    NoDirectOption,
    checked,
    out,
    plain,
    print_fields,
    print_json,
    run,
    say_direct,
    start_serving,
)

if TYPE_CHECKING:
    from natster.client.autostart import Autostart
    from natster.services.direct import DirectEndpoint

app = typer.Typer(
    rich_markup_mode=None,
    help="Serve my catalogs in the background, from login on (a systemd user unit, or "
    "a launchd agent on macOS).",
    no_args_is_help=True,
)


def serve(
    direct: int | None = DirectOption,
    no_direct: bool = NoDirectOption,
    verbose: bool = LogVerboseOption,
    log_format: str = LogFormatOption,
) -> None:
    """Serve every catalog of mine, those I make later too, until Ctrl-C."""
    start_serving(verbose, log_format, direct, no_direct)
    run(_serve_all(direct, no_direct))


async def _serve_all(direct_port: int | None, no_direct: bool) -> None:
    from natster.client import NatsterClient
    from natster.client.serve_all import serve_every_catalog
    from natster.services.direct import direct_endpoint

    from ._signals import stop_on_signals

    stop = stop_on_signals()
    made: list[DirectEndpoint | None] = [None]  # the running server's direct endpoint

    def said(names: tuple[str, ...]) -> None:
        if names:
            out.print(plain(f"serving {', '.join(names)} (Ctrl-C stops)"))
            say_direct(made[0])
        else:
            out.print("no catalogs here yet: `natster catalog new` makes one (waiting for it)")

    async with await NatsterClient.connect(reconnect=True) as client:
        folder = client.home.path / "direct"

        def direct() -> DirectEndpoint | None:
            made[0] = direct_endpoint(folder, direct_port, off=no_direct)
            return made[0]

        await serve_every_catalog(client, stop, said, direct=direct)
    out.print("stopped")


def _autostart() -> Autostart:
    from natster.client import Home
    from natster.client.autostart import Autostart

    return Autostart(Home.default())


@app.command("on")
def on() -> None:
    """Serve my catalogs from now on, and at every login; restarted if it fails."""
    out.print(plain(checked(lambda: _autostart().on())))


@app.command("off")
def off() -> None:
    """Stop serving in the background, and at login."""
    out.print(plain(checked(lambda: _autostart().off())))


@app.command("status")
def status(json_: bool = JsonOption) -> None:
    """Whether autostart is on, whether it runs now, and since when."""
    facts = checked(lambda: _autostart().status())
    if json_:
        print_json(facts)
        return
    running = facts["running"]
    print_fields(
        {
            "autostart": "on" if facts["installed"] else "off",
            "running": "unknown" if running is None else ("yes" if running else "no"),
            "since": facts["since"],
            "file": facts["file"],
        }
    )


context_app = typer.Typer(
    rich_markup_mode=None,
    help="Use ordinary NATS tools (the `nats` CLI) as this machine's user.",
    no_args_is_help=True,
)


@context_app.command("export")
def export(
    name: str | None = typer.Option(None, help="The context's name [default: natster-NAME]."),
) -> None:
    """Write a `nats` CLI context for this machine's user (its URL, creds, CA, inbox)."""
    from natster.client import Home
    from natster.client.nats_context import export_context

    made, path = checked(lambda: export_context(Home.default(), name))
    out.print(plain(f"wrote {path}; try: nats --context {made} req natster.global.stats ''"))
