"""``natster web`` and ``natster login``: the browser UI on this machine."""

from __future__ import annotations

import socket

import typer

from natster import limits

from ._out import err, fail, out, run, with_client


def web(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: your network)"),
    port: int = typer.Option(limits.WEB_PORT, min=1, max=65535, help="Port to listen on"),
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
    err.print(f"natster web on http://{host}:{port}: run `natster login` to sign a browser in")
    err.print("Ctrl-C stops it")
    run(serve(home, host, port))


def _port_busy(host: str, port: int, exc: OSError) -> int:
    from rich.text import Text

    reason = f" cannot listen on {host}:{port} ({exc.strerror}): pass --port"
    err.print(Text.assemble(("error:", "red"), reason))
    return 1


def login(
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the link"),
    url: str | None = typer.Option(None, help="The UI's address, if not this machine's"),
) -> None:
    """Print a single-use sign-in link for the web UI (valid 5 minutes) and a QR code."""
    import webbrowser

    import segno

    from natster.client import Home
    from natster.web._server import running_url

    home = Home.default()
    base = url or running_url(home)
    if base is None:
        fail("natster web is not running for this user: start it with `natster web`")
    code = run(with_client(lambda client: client.otc_generate(), home)).code
    link = f"{base.rstrip('/')}/login?code={code}"
    qr = segno.make(link, error="l")
    qr.terminal(compact=True)
    out.print(link)
    if not no_browser:
        webbrowser.open(link)
