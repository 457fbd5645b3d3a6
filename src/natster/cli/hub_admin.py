"""``natster hub people`` and ``natster hub remove``: who is on a hub, and removing one."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ._out import JsonOption, fail, out, plain, print_json, run


def people(
    dir: Path = typer.Option(..., "--dir", help="The hub's state directory."),
    json_: bool = JsonOption,
) -> None:
    """Everyone on the hub: name, joined, online or last seen, devices, shares, imports."""
    from natster.hub import HubDir
    from natster.hub.admin import people as listed

    found = run(listed(HubDir(dir)))
    if json_:
        print_json([p.as_dict() for p in found])
        return
    if not found:
        out.print("nobody has joined yet: `natster hub invite` makes an invite")
        return
    from rich.table import Table

    table = Table("name", "joined", "seen", "devices", "shares", "imports")
    for person in found:
        seen = "online now" if person.online else (person.last_seen or "-")
        table.add_row(
            plain(person.name),
            person.joined[:10],
            seen,
            str(person.devices),
            str(person.shares),
            str(person.imports),
        )
    out.print(table)


def remove(
    who: str = typer.Argument(..., help="The person's name (or account key)."),
    dir: Path = typer.Option(..., "--dir", help="The hub's state directory."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask: remove at once."),
) -> None:
    """Remove someone from the hub: cut off at once (their every machine and catalog
    server), their shares ended, their name free again."""
    from natster.hub import HubDir
    from natster.hub.admin import remove as removing

    if not yes:
        if not sys.stdin.isatty():
            fail(f"removing {who} cuts them off for good: pass --yes to confirm")
        if not typer.confirm(f"Remove {who} from this hub for good?", default=False):
            fail("not removed")
    gone = run(removing(HubDir(dir), who))
    out.print(plain(f"removed {gone.name or who}: cut off, their shares ended, the name free"))
