"""``natster hub ...``: run a hub, invite people to it, see how it is."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._out import (
    JsonOption,
    LogFormatOption,
    LogVerboseOption,
    err,
    fail,
    out,
    parse_duration,
    people_counted,
    plain,
    print_fields,
    print_json,
    run,
    setup_logging,
)
from ._signals import stop_on_signals, until_stopped

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from natster.client.hub_catalog import HubCatalog
    from natster.hub import HubDir, HubInfo, HubOptions
    from natster.services.platform import PartMaker, Platform
    from natster.web._hub import HubWeb

app = typer.Typer(
    rich_markup_mode=None, help="Run a natster hub and invite people to it.", no_args_is_help=True
)

DirOption = typer.Option(..., "--dir", help="The hub's state directory.")


@app.command()
def up(
    dir: Path = DirOption,
    host: str | None = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port to listen on [default: 4222]."),
    advertise: str | None = typer.Option(
        None, help="The URL invites carry (tls://HOST:PORT), when others reach the hub by another."
    ),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Your own certificate chain (PEM) instead of the hub's own CA."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The key of --tls-cert (PEM)."),
    tls_ca: Path | None = typer.Option(
        None, "--tls-ca", help="The CA users should trust [default: the issuer in --tls-cert]."
    ),
    insecure_plain: bool = typer.Option(
        False, "--insecure-plain", help="No TLS: plain TCP (only for tests on one machine)."
    ),
    nats_server: str | None = typer.Option(
        None, "--nats-server", help="nats-server binary (else $NATSTER_NATS_SERVER, else bundled)."
    ),
    catalog: Path | None = typer.Option(
        None, "--catalog", help="Serve this folder as the hub's catalog, shared with everyone."
    ),
    cluster_port: int | None = typer.Option(
        None,
        "--cluster-port",
        help="Found a cluster (a new hub) or join one: the port routes listen on [join: 6222].",
    ),
    join: str | None = typer.Option(
        None, "--join", help="Join a hub as one more node (a token from `hub node invite`)."
    ),
    node: str | None = typer.Option(
        None, "--node", help="This node's name in the cluster [default: HOSTNAME-CLUSTERPORT]."
    ),
    web_port: int | None = typer.Option(
        None,
        "--web-port",
        min=1,
        max=65535,
        help="Serve the web app on this port (HTTPS), for browsers anywhere; kept for next time.",
    ),
    ws_port: int | None = typer.Option(
        None,
        "--ws-port",
        min=1,
        max=65535,
        help="The web app's NATS over WebSocket (wss) listens here [default: --web-port + 1].",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics and /healthz on 127.0.0.1 at this port.",
    ),
    monitor_port: int | None = typer.Option(
        None,
        "--monitor-port",
        min=0,
        max=65535,
        help="nats-server's own monitoring (/varz, /connz, /jsz) on 127.0.0.1 [0: off]; kept.",
    ),
    verbose: bool = LogVerboseOption,
    log_format: str = LogFormatOption,
) -> None:
    """Start the hub in the foreground (creating it on first run) until Ctrl-C."""
    setup_logging(verbose, log_format)
    if catalog is not None and not catalog.is_dir():
        fail(f"{catalog} is not a folder")
    if join is not None:
        from natster.hub.cluster.node_join import join as join_hub

        routes_port = cluster_port or DEFAULT_CLUSTER_PORT
        joined = run(
            join_hub(
                dir,
                join,
                node=node or _node_name(routes_port),
                host=host or "127.0.0.1",
                port=port or 4222,
                cluster_port=routes_port,
                advertise=advertise,
            )
        )
        out.print(f"joined the hub as node {joined.load().node}")
        cluster_port = node = None  # the bundle set them
    options: HubOptions = {
        "host": host,
        "port": port,
        "advertise": advertise,
        "nats_server": nats_server,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "tls_ca": tls_ca,
        "insecure_plain": insecure_plain,
        "cluster_port": cluster_port,
        "node": node,
        "web_port": web_port,
        "ws_port": ws_port,
        "monitor_port": monitor_port,
    }
    run(_up(dir, options, catalog, metrics_port))


DEFAULT_CLUSTER_PORT = 6222


def _node_name(cluster_port: int) -> str:
    import re
    import socket

    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("-.") or "node"
    return f"{host}-{cluster_port}"


async def _up(
    dir: Path, options: HubOptions, catalog: Path | None, metrics_port: int | None
) -> None:
    from natster.services.platform import Platform

    stop = stop_on_signals()
    parts: list[PartMaker] = [_web_app]
    if catalog is not None:
        parts.append(_hub_catalog(catalog))
    if metrics_port is not None:
        from natster.services.metrics import metrics_part

        parts.append(metrics_part(metrics_port))
    platform = Platform(dir, parts=[_said_hello, *parts, _said_how_to_invite], **options)
    info = await until_stopped(platform.start(), stop)
    if info is None:  # Ctrl-C or SIGTERM while it started (a founder waiting for peers)
        err.print("stopping hub")
        await platform.stop()
        out.print("hub stopped")
        return
    try:
        await stop.wait()
    finally:
        err.print("stopping hub")
        await platform.stop()
    out.print("hub stopped")


async def _said_hello(platform: Platform, info: HubInfo) -> None:
    """Where the hub listens and how others reach it, once it does."""
    from natster._net import is_loopback

    verb = "created" if info.created else "started"
    out.print(f"hub {verb} in {info.dir}")
    out.print(f"listening on {info.local_url}")
    if info.ca_pin is None:
        err.print("warning: plain TCP, no TLS: names, lists and codes cross the network open")
    else:
        out.print(f"TLS: invites pin the CA with sha256 {info.ca_pin}")
    config = platform.dir.load()
    if is_loopback(config.host):
        err.print(
            f"note: only this machine can reach the hub ({config.host}); for friends, "
            f"start it with --host 0.0.0.0 --advertise tls://YOUR-ADDRESS:{config.port}"
        )
    if info.url != info.local_url:
        out.print(f"invites carry {info.url}")
    elif platform.hub.options.get("host") in ("0.0.0.0", "::"):  # noqa: S104
        scheme = info.url.split("://")[0]
        err.print(
            f"note: invites carry {info.url}; pass --advertise {scheme}://HOST:PORT "
            "so others can reach this hub"
        )


async def _said_how_to_invite(_platform: Platform, info: HubInfo) -> None:
    out.print(f"invite someone: natster hub invite --dir {info.dir}")


def _hub_catalog(folder: Path) -> Callable[[Platform, HubInfo], Awaitable[HubCatalog]]:
    async def serve(platform: Platform, info: HubInfo) -> HubCatalog:
        from natster.client.hub_catalog import serve_hub_catalog

        served = await serve_hub_catalog(platform.dir, info.local_url, folder)
        out.print(f"serving {folder} as the hub catalog")
        return served

    return serve


async def _web_app(platform: Platform, info: HubInfo) -> HubWeb | None:
    """The web app, if this hub serves one (``--web-port``, now or before)."""
    from urllib.parse import urlsplit

    from natster.web._hub import HubWeb

    config = platform.dir.load()
    if config.web_port is None or config.ws_port is None:
        return None
    files = platform.hub.tls_files
    names = platform.hub.web_names
    web = HubWeb(platform.dir, config.host, config.web_port, config.ws_port, files, names)
    await web.start()
    scheme = "https" if files is not None else "http"
    shown = urlsplit(info.local_url).hostname
    out.print(
        f"web app on {scheme}://{shown}:{config.web_port} (NATS over WebSocket: {config.ws_port})"
    )
    if files is not None and files.own:
        err.print(
            "note: browsers trust only a certificate from a public CA: give the hub one with "
            "--tls-cert/--tls-key (e.g. from Let's Encrypt) for phones and friends' browsers"
        )
    return web


@app.command()
def invite(
    dir: Path = DirOption,
    ttl: str = typer.Option("24h", help="How long the invite stays valid (e.g. 30m, 24h, 7d)."),
    url: str | None = typer.Option(None, help="Hub URL to put in the invite."),
    long: bool = typer.Option(
        False,
        "--long",
        help="A self-contained invite (natster-invite-..., about 1,300 characters) that "
        "carries its own credentials instead of words to redeem at the hub's doorstep.",
    ),
    json_: bool = typer.Option(False, "--json", help='Print {"invite": ...}.'),
) -> None:
    """Print a single-use invite (last line of output): a few words with the hub's
    address, to read aloud or paste in a chat, and a QR code of it."""
    from natster.hub import mint_invite, mint_short_invite

    seconds = parse_duration(ttl)
    expires_at: int | None
    if long:
        made = run(mint_invite(_hub(dir), seconds, url))
        text, expires_at, where = made.encode(), made.expires_at, made.url
    else:
        short = run(mint_short_invite(_hub(dir), seconds, url))
        text, expires_at, where = short.encode(), short.expires_at, short.url
    if json_:
        print_json({"invite": text, "expires_at": expires_at, "url": where})
        return
    err.print(f"single-use invite for {where}, valid for {ttl}; join with:")
    err.print("  natster init INVITE")
    if not long:
        import segno

        segno.make(text, error="l").terminal(out=sys.stderr, compact=True)
    print(text)


node_app = typer.Typer(
    rich_markup_mode=None, help="The nodes of a clustered hub.", no_args_is_help=True
)
app.add_typer(node_app, name="node")


@node_app.command("invite")
def node_invite(
    dir: Path = DirOption,
    ttl: str = typer.Option("1h", help="How long the token stays valid (at most 24h)."),
    json_: bool = typer.Option(False, "--json", help='Print {"token": ...}.'),
) -> None:
    """Print a single-use token that lets another machine join as a node (last line)."""
    from natster.hub.cluster.node_join import mint_node_token

    made = mint_node_token(_hub(dir), parse_duration(ttl))
    text = made.encode()
    if json_:
        print_json({"token": text, "expires_at": made.expires_at, "url": made.url})
        return
    err.print(f"single-use node token for {made.url}, valid for {ttl}; it opens the hub's keys:")
    err.print(
        "  natster hub up --dir DIR --join TOKEN --host ... --cluster-port ... --advertise ..."
    )
    print(text)


@app.command()
def status(dir: Path = DirOption, json_: bool = JsonOption) -> None:
    """Is the hub running, where, with how many accounts; its nodes and their copies."""
    hub = _hub(dir)
    if not hub.exists():
        fail(f"{hub.path} is not a natster hub directory (start one with `natster hub up`)")
    facts = hub.describe()
    if facts["running"]:
        from natster.hub.process.health import hub_health

        facts.update(run(hub_health(hub)))
    if json_:
        print_json(facts)
        return
    print_fields(
        {
            "status": "running" if facts["running"] else "stopped",
            "url": facts["url"],
            "uptime": _uptime(facts["uptime_s"]),
            "accounts": people_counted(facts["accounts"]),
            "operator": f"{str(facts['operator'])[:12]}… (--json: in full)",
            "dir": facts["dir"],
        }
    )
    if facts["running"]:
        _print_health(facts)


def _print_health(facts: Mapping[str, Any]) -> None:
    from rich.table import Table

    nodes = Table("node", "up", "connections", "routes")
    for node in facts["nodes"]:
        name = node["name"] + (" (this one)" if node["name"] == facts["node"] else "")
        up = plain("up", "green") if node["up"] else plain("down", "red")  # styled, not markup
        nodes.add_row(plain(name), up, str(node["connections"] or "-"), str(node["routes"] or "-"))
    out.print(nodes)
    streams = Table("stream", "account", "replicas", "leader", "messages", "lag")
    for row in facts["streams"]:
        if row.get("error"):
            streams.add_row("?", row["account"], "-", "-", "-", plain(row["error"]))
            continue
        behind = {name: lag for name, lag in row["lag"].items() if lag}
        lag = ", ".join(f"{n}: {v}" for n, v in behind.items()) or (
            "current" if row["current"] else "catching up"
        )
        streams.add_row(
            row["name"],
            row["account"],
            str(row["replicas"]),
            row["leader"] or "-",
            str(row["messages"]),
            lag,
        )
    out.print(streams)


@app.command("global")
def global_(
    dir: Path = DirOption,
    verbose: bool = LogVerboseOption,
    log_format: str = LogFormatOption,
) -> None:
    """Run one more global service instance for a running hub, until Ctrl-C."""
    setup_logging(verbose, log_format)
    run(_global(_hub(dir)))


async def _global(hub: HubDir) -> None:
    from natster.services.platform import start_global

    state = hub.require_running()
    stop = stop_on_signals()
    service, nc = await start_global(hub, state.local_url)
    out.print(f"global service instance running for {state.url}")
    try:
        await stop.wait()
    finally:
        await service.stop()
        await nc.close()
    out.print("global service instance stopped")


@app.command()
def rebuild(dir: Path = DirOption, json_: bool = JsonOption) -> None:
    """Delete the projections and rebuild them by replaying the event log."""
    facts = run(_rebuild(_hub(dir)))
    if json_:
        print_json(facts)
    else:
        out.print(
            f"replayed {facts['events']:.0f} events in {facts['seconds']} s "
            f"({facts['events_per_s']} events/s)"
        )


async def _rebuild(hub: HubDir) -> dict[str, float]:
    from natster._nats import connect
    from natster.services.global_service.rebuild import rebuild as rebuild_projections

    state = hub.require_running()
    nc = await connect(
        state.local_url, hub.creds("global"), name="natster-rebuild", trust=hub.trust()
    )
    try:
        return await rebuild_projections(nc)
    finally:
        await nc.close()


def _hub(dir: Path) -> HubDir:
    from natster.hub import HubDir

    return HubDir(dir.expanduser().resolve())


def _uptime(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60}m {rest % 60}s"


tls_app = typer.Typer(
    rich_markup_mode=None, help="The hub's TLS: its certificate and the CA invites pin."
)
app.add_typer(tls_app, name="tls")


@tls_app.command("show")
def tls_show(dir: Path = DirOption, json_: bool = JsonOption) -> None:
    """The CA invites pin, and the server certificate's names and expiry."""
    from natster.hub.tls import describe

    hub = _hub(dir)
    files = hub.tls_files(hub.load())
    if files is None:
        fail("this hub runs without TLS (--insecure-plain)")
    facts = describe(files)
    if json_:
        print_json(dict(facts))
        return
    print_fields(
        {
            "ca pin": facts["ca_pin"],
            "names": ", ".join(facts["names"]),
            "valid until": facts["not_after"],
            "own ca": "yes" if facts["own"] else "no (the operator's certificate)",
        }
    )


@tls_app.command("rotate")
def tls_rotate(dir: Path = DirOption) -> None:
    """Issue a new server certificate under the same CA; the running hub loads it and
    users notice nothing (with your own certificate: reload its files)."""
    from natster.hub import rotate

    rotate(_hub(dir))
    out.print("the hub now uses its new certificate; invites and users are unchanged")
