"""``natster hub ...``: run a hub, invite people to it, see how it is."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from natster.hub import Hub, HubDir, mint_invite

from ._out import err, fail, out, parse_duration, print_fields, print_json, run, setup_logging

app = typer.Typer(help="Run a natster hub and invite people to it.", no_args_is_help=True)

DirOption = typer.Option(..., "--dir", help="The hub's state directory.")


@app.command()
def up(
    dir: Path = DirOption,
    host: str | None = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port to listen on [default: 4222]."),
    advertise: str | None = typer.Option(
        None, help="The URL invites carry, when others reach the hub by another address."
    ),
    nats_server: str | None = typer.Option(
        None, "--nats-server", help="nats-server binary (else $NATSTER_NATS_SERVER, else bundled)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Start the hub in the foreground (creating it on first run) until Ctrl-C."""
    setup_logging(verbose)
    run(_up(dir, host, port, advertise, nats_server))


async def _up(
    dir: Path, host: str | None, port: int | None, advertise: str | None, binary: str | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Hub(dir, host=host, port=port, advertise=advertise, nats_server=binary) as info:
        verb = "created" if info.created else "started"
        out.print(f"hub {verb} in {info.dir}")
        out.print(f"listening on {info.local_url}")
        if info.url != info.local_url:
            out.print(f"invites carry {info.url}")
        elif host in ("0.0.0.0", "::"):  # noqa: S104
            err.print(
                f"note: invites carry {info.url}; pass --advertise nats://HOST:PORT "
                "so others can reach this hub"
            )
        out.print(f"invite someone: natster hub invite --dir {info.dir}")
        await stop.wait()
        err.print("stopping hub")
    out.print("hub stopped")


@app.command()
def invite(
    dir: Path = DirOption,
    ttl: str = typer.Option("24h", help="How long the invite stays valid (e.g. 30m, 24h, 7d)."),
    url: str | None = typer.Option(None, help="Hub URL to put in the invite."),
    json_: bool = typer.Option(False, "--json", help='Print {"invite": ...}.'),
) -> None:
    """Print a single-use invite (last line of output)."""
    seconds = parse_duration(ttl)
    made = run(mint_invite(HubDir(dir.expanduser().resolve()), seconds, url))
    text = made.encode()
    if json_:
        print_json({"invite": text, "expires_at": made.expires_at, "url": made.url})
        return
    err.print(f"single-use invite for {made.url}, valid for {ttl}; join with:")
    err.print("  natster init --invite INVITE")
    print(text)


@app.command()
def status(
    dir: Path = DirOption,
    json_: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Is the hub running, where, with how many accounts."""
    hub = HubDir(dir.expanduser().resolve())
    if not hub.exists():
        fail(f"{hub.path} is not a natster hub directory (start one with `natster hub up`)")
    facts = hub.describe()
    if json_:
        print_json(facts)
        return
    print_fields(
        {
            "status": "running" if facts["running"] else "stopped",
            "url": facts["url"],
            "uptime": _uptime(facts["uptime_s"]),
            "accounts": facts["accounts"],
            "operator": facts["operator"],
            "dir": facts["dir"],
        }
    )


def _uptime(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60}m {rest % 60}s"
