"""``natster hub people``, ``hub remove``, ``hub invites`` and the other commands of a
hub's operator: who is on it, removing one, invites not yet used, its unit, its backups,
its log, and its own accounts for the `nats` CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ._out import (
    JsonOption,
    ask_passphrase,
    checked,
    expiry,
    fail,
    out,
    plain,
    print_json,
    run,
)


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


def invites(
    dir: Path = typer.Option(..., "--dir", help="The hub's state directory."),
    revoke: str | None = typer.Option(
        None, "--revoke", metavar="ID", help="End this unused invite (its id, or its start)."
    ),
    json_: bool = JsonOption,
) -> None:
    """The invites made and not yet used: their ids, when made, when they expire."""
    from natster.hub import HubDir
    from natster.hub.admin import invites as pending
    from natster.hub.admin import revoke_invite

    if revoke is not None:
        ended = run(revoke_invite(HubDir(dir), revoke))
        out.print(plain(f"invite {ended.id} ended: its words or token let nobody in now"))
        return
    found = run(pending(HubDir(dir)))
    if json_:
        print_json([i.as_dict() for i in found])
        return
    if not found:
        out.print("no unused invites: `natster hub invite` makes one")
        return
    from rich.table import Table

    table = Table("id", "made", "expires")
    for invite in found:
        made = expiry(invite.created_at) if invite.created_at else "-"
        table.add_row(invite.id, made, expiry(invite.expires_at))
    out.print(table)


def service(
    dir: Path = typer.Option(..., "--dir", help="The hub's state directory."),
    user: str = typer.Option("natster", help="The system user the hub runs as."),
    host: str | None = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port to listen on [default: 4222]."),
    print_: bool = typer.Option(False, "--print", help="Print the unit (the only way yet)."),
) -> None:
    """Print a systemd unit that runs this hub as a service (docs/deploy.md installs it)."""
    from natster.hub.service_unit import hub_unit

    if not print_:
        fail("pass --print, and install what it prints as docs/deploy.md says")
    print(hub_unit(dir, user=user, host=host, port=port), end="")


def context(
    dir: Path = typer.Option(..., "--dir", help="The running hub's state directory."),
    name: str = typer.Option("natster-hub", help="The contexts' names begin with this."),
) -> None:
    """Write `nats` CLI contexts for the hub's own accounts (servers, micro services)."""
    from natster.hub import HubDir
    from natster.hub.tools import export_hub_contexts

    written = checked(lambda: export_hub_contexts(HubDir(dir), name))
    for _made, path in written:
        out.print(plain(f"wrote {path}"))
    out.print(
        plain(
            f"try: nats --context {name}-global micro ls; "
            f"nats --context {name}-sys server report jetstream"
        )
    )


def backup(
    file: Path = typer.Argument(..., help="Where to write the backup."),
    dir: Path = typer.Option(..., "--dir", help="The running hub's state directory."),
    seal: bool = typer.Option(False, "--seal", help="Seal it with a passphrase (asked)."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="Seal it with the passphrase in this file ('-': stdin)."
    ),
) -> None:
    """Write the whole running hub into one file (0600: it holds the hub's keys)."""
    from natster.hub import HubDir
    from natster.hub.backup import backup as backing_up

    sealed = seal or passphrase_file is not None
    passphrase = ask_passphrase(passphrase_file, twice=True) if sealed else None
    made = run(backing_up(HubDir(dir), file, passphrase))
    keep = "keep it and the passphrase apart" if sealed else "keep it secret"
    out.print(
        plain(
            f"backed up to {made.path} ({made.size:,} bytes: {made.streams} streams, "
            f"{made.messages:,} messages); {keep}, it holds the hub's keys"
        )
    )


def restore(
    file: Path = typer.Argument(..., help="A backup `natster hub backup` wrote."),
    dir: Path = typer.Option(..., "--dir", help="A new, empty directory for the hub."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="A sealed backup's passphrase, from this file ('-')."
    ),
) -> None:
    """Bring a hub back from a backup (`natster hub up --dir DIR` then starts it)."""
    from natster.hub.backup import is_sealed
    from natster.hub.backup import restore as restoring

    sealed = checked(lambda: is_sealed(file))
    passphrase = ask_passphrase(passphrase_file, twice=False) if sealed else None
    checked(lambda: restoring(file, dir, passphrase))
    out.print(plain(f"restored into {dir}: start it with `natster hub up --dir {dir}`"))


def log(
    dir: Path = typer.Option(..., "--dir", help="The running hub's state directory."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many lines, newest first."),
    json_: bool = JsonOption,
) -> None:
    """Who joined, was renamed, left or was removed, and when (from the event log)."""
    from natster.hub import HubDir
    from natster.hub.admin import account_log

    lines = run(account_log(HubDir(dir), limit))
    if json_:
        print_json([line.as_dict() for line in lines])
        return
    if not lines:
        out.print("nothing yet: nobody has joined")
        return
    from rich.table import Table

    table = Table("when", "what", "who")
    for line in lines:
        table.add_row(
            line.at[:19].replace("T", " "), line.what, plain(line.name or line.account[:12])
        )
    out.print(table)
