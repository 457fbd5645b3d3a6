"""``natster device add|ls|revoke``: more machines of this account, each with its own key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._out import (
    JsonOption,
    err,
    expiry,
    out,
    parse_duration,
    plain,
    print_json,
    run,
    with_client,
)

if TYPE_CHECKING:
    from natster.client import NatsterClient
    from natster.client.devices import Device, DeviceView

app = typer.Typer(
    rich_markup_mode=None, help="Your other machines: each with its own key, rights and expiry."
)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="What to call the new machine (e.g. phone)."),
    expires: str | None = typer.Option(
        None, "--expires", help="The device stops working after this (e.g. 30d) [default: never]."
    ),
    read_only: bool = typer.Option(
        False, "--read-only", help="Browse, stream and download only: no share, import or serve."
    ),
    long: bool = typer.Option(
        False, "--long", help="Print the long code (it carries its own way in) instead."
    ),
) -> None:
    """Print a short code (words@hub/pin, and a QR) for `natster init --device CODE` on
    the new machine, and wait for it (the code works once, for 10 minutes)."""
    expires_s = None if expires is None else parse_duration(expires)

    async def offer(client: NatsterClient) -> Device:
        import io

        import segno

        from natster.client.devices import offer_device

        offered = await offer_device(
            client, name, rights="read-only" if read_only else "full", expires_s=expires_s
        )
        text = offered.code.encode() if long else offered.short.encode()
        out.print("On the new machine, run:")
        out.print(plain(f"  natster init --device {text}"))
        qr = io.StringIO()  # after the code, in order, whatever the output is
        segno.make(text, error="l").terminal(out=qr, compact=True)
        for line in qr.getvalue().splitlines():
            out.print(plain(line))
        err.print("waiting for the new machine (Ctrl-C to cancel)...")
        return await offered.wait()

    device = run(with_client(offer))
    until = expiry(device.expires_at)
    host = f" (the machine calls itself {device.host!r})" if device.host else ""
    out.print(plain(f"added {device.name}: {device.rights}, expires {until}{host}"))
    out.print("not yours? `natster device revoke " + device.name + "` cuts it off at once")


@app.command("ls")
def ls(json_: bool = JsonOption) -> None:
    """This machine and the devices it added: rights, expiry, last seen."""
    from natster.client.devices import THIS_MACHINE, list_devices

    views = run(with_client(list_devices))
    if json_:
        print_json([_row(v) for v in views])
        return
    from rich.table import Table

    table = Table("name", "kind", "rights", "expires", "seen", "host")
    for view in views:
        mine = view.this_machine and view.name != THIS_MACHINE
        table.add_row(
            plain(view.name + (" (this machine)" if mine else "")),
            view.kind,
            view.rights,
            expiry(view.expires_at),
            _seen(view),
            plain(view.host or "-"),
        )
    out.print(table)


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The device, as `device ls` names it.")) -> None:
    """Cut a device off at once: the hub closes its connections and refuses it from now on."""
    from natster.client.devices import revoke_device

    device = run(with_client(lambda client: revoke_device(client, name)))
    out.print(plain(f"revoked {device.name}: it can no longer connect"))


def _row(view: DeviceView) -> dict[str, object]:
    return {
        "name": view.name,
        "user": view.user,
        "kind": view.kind,
        "rights": view.rights,
        "host": view.host,
        "added_at": view.added_at,
        "expires_at": view.expires_at,
        "revoked_at": view.revoked_at,
        "this_machine": view.this_machine,
        "online": view.online,
        "last_seen": view.last_seen,
    }


def _seen(view: DeviceView) -> str:
    if view.revoked_at:
        return f"revoked {view.revoked_at[:16]}"
    if view.online:
        return "online now"
    return view.last_seen[:16].replace("T", " ") if view.last_seen else "-"
