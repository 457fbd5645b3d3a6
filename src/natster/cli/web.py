"""``natster web`` and ``natster login``: the browser UI on this machine."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import typer

from natster import limits

from ._out import err, expiry, fail, out, parse_duration, plain, run, with_client

if TYPE_CHECKING:
    from natster.client.devices import Rights


def web(
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (0.0.0.0: every address of this machine)."
    ),
    port: int = typer.Option(limits.WEB_PORT, min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the web UI for this machine's user; `natster login` signs a browser in."""
    from natster.client import Home
    from natster.web import serve

    home = Home.default()
    home.load()  # fails clearly before anything listens
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise typer.Exit(_port_busy(host, port, exc)) from None

    def listening() -> None:  # said once `natster login` can find it
        err.print(f"natster web on http://{host}:{port}: run `natster login` to sign a browser in")
        err.print("Ctrl-C stops it")

    run(serve(home, host, port, ready=listening))


def _port_busy(host: str, port: int, exc: OSError) -> int:
    from rich.text import Text

    reason = f" cannot listen on {host}:{port} ({exc.strerror}): pass --port"
    err.print(Text.assemble(("error:", "red"), reason))
    return 1


def login(
    code: str | None = typer.Argument(
        None, help="The code a browser's sign-in page shows (the hub's web app)."
    ),
    name: str | None = typer.Option(None, help="What to call that browser in `device ls`."),
    full: bool = typer.Option(
        False, "--full", help="Let that browser share, unshare and import too [default: read-only]."
    ),
    expires: str = typer.Option("24h", "--expires", help="That browser is signed out after this."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the link."),
    url: str | None = typer.Option(
        None, help="The UI's address as other devices reach it (e.g. http://192.168.1.5:8080)."
    ),
) -> None:
    """Sign a browser in. With CODE: the browser showing it, on the hub's web app, as a
    device of this account. Without: print a single-use link (valid 5 minutes) and a QR
    code for `natster web` on this machine."""
    if code is not None:
        _sign_in_browser(code, name, "full" if full else "read-only", parse_duration(expires))
        return
    import webbrowser
    from urllib.parse import urlsplit

    import segno

    from natster._net import is_loopback
    from natster.client import Home
    from natster.web._server import running_url

    home = Home.default()
    home.load()  # not joined yet: say that, not that the web UI is not running
    base = url or running_url(home)
    if base is None:
        fail("natster web is not running for this user: start it with `natster web`")
    code = run(with_client(lambda client: client.otc_generate(), home)).code
    link = f"{base.rstrip('/')}/login?code={code}"
    if is_loopback(urlsplit(base).hostname or ""):  # a QR code would only fail on a phone
        err.print(
            "this link works on this machine only; for a phone on your network, run "
            "`natster web --host 0.0.0.0` and `natster login` again (away from home: the "
            "hub's web app and `natster login CODE`)"
        )
    else:
        segno.make(link, error="l").terminal(compact=True)
    out.print(link)
    if not no_browser:
        webbrowser.open(link)


def _sign_in_browser(code: str, name: str | None, rights: Rights, expires_s: float) -> None:
    from natster.client.browsers import sign_in_browser

    device = run(
        with_client(
            lambda client: sign_in_browser(
                client, code, name=name, rights=rights, expires_s=expires_s
            )
        )
    )
    out.print(plain(f"signed in {device.name}: {device.rights}, until {expiry(device.expires_at)}"))
    out.print("`natster device revoke " + device.name + "` signs it out at once")
