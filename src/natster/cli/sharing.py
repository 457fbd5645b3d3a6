"""``natster catalog ls|share|unshare|inbox|import|contents``: catalogs between people."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ._out import (
    CatalogArgument,
    JsonOption,
    OwnerOption,
    human_size,
    out,
    plain,
    print_json,
    run,
    with_client,
)

PersonArgument = typer.Argument(..., help="A member of the hub: a name or an account key.")

if TYPE_CHECKING:
    from rich.text import Text

    from natster import wire
    from natster.client import NatsterClient


def ls(json_: bool = JsonOption) -> None:
    """Catalogs shared by me and with me, with a green dot when online."""
    rows = run(with_client(lambda client: client.my_shares()))
    if json_:
        print_json([row.model_dump() for row in rows])
        return
    if not rows:
        out.print("nothing shared by you or with you yet")
        return
    from rich.table import Table
    from rich.text import Text

    from natster.client import Home
    from natster.client.people import label, look_alike_accounts

    me = Home.default().load().account
    alike = look_alike_accounts(
        [(r.owner, r.owner_name) for r in rows] + [(r.to, r.to_name) for r in rows]
    )
    table = Table("", "catalog", "owner", "shared with", "imported", "rev")
    for row in rows:
        dot = Text("●", "green") if row.online else Text("○", "bright_black")
        table.add_row(
            dot,
            row.catalog,
            plain(label(row.owner, row.owner_name, me, alike)),
            plain(label(row.to, row.to_name, me, alike)),
            "yes" if row.imported else "no",
            "-" if row.revision is None else str(row.revision),
        )
    out.print(table)


def share(name: str = CatalogArgument, person: str = PersonArgument) -> None:
    """Share one of my catalogs with a member of the hub (by name or account key)."""
    from natster.client import remote
    from natster.client.people import person as find

    async def go(client: NatsterClient) -> tuple[str, wire.ShareOutcome]:
        who = await find(client, person)
        return who.name, await remote.share(client, name, who.account)

    who, outcome = run(with_client(go))
    note = " (it already was)" if outcome.duplicate else ""
    if outcome.restored:
        note = " (back in their library: they had imported it)"
    out.print(plain(f"shared {name} with {who}{note}"))


def unshare(name: str = CatalogArgument, person: str = PersonArgument) -> None:
    """Stop sharing a catalog with someone (their access ends at once)."""
    from natster.client import remote
    from natster.client.people import person as find

    async def go(client: NatsterClient) -> str:
        who = await find(client, person)
        await remote.unshare(client, name, who.account)
        return who.name

    who = run(with_client(go))
    out.print(plain(f"{name} is no longer shared with {who}"))


def inbox(
    decline: str = typer.Option(
        None, "--decline", metavar="CATALOG", help="Turn down this share (it ends)."
    ),
    owner: str = OwnerOption,
    block: str = typer.Option(
        None, "--block", metavar="WHO", help="Take no more shares from this person."
    ),
    unblock: str = typer.Option(
        None, "--unblock", metavar="WHO", help="Take shares from this person again."
    ),
    json_: bool = JsonOption,
) -> None:
    """Catalogs shared with me that I have not imported yet (decline, block people)."""
    from natster.client import remote

    if decline is not None:
        row = run(with_client(lambda client: remote.decline(client, decline, owner)))
        out.print(plain(f"declined {decline} of {row.owner_name or row.owner}"))
        return
    if block is not None or unblock is not None:
        who = block if block is not None else unblock
        name, declined = run(
            with_client(lambda client: remote.block(client, who, blocked=block is not None))
        )
        if block is None:
            out.print(plain(f"{name} can share with you again"))
            return
        also = f"; declined {', '.join(declined)}" if declined else ""
        out.print(plain(f"{name} can no longer share with you{also}"))
        return
    rows = run(with_client(remote.inbox))
    if json_:
        keys = ("catalog", "owner", "owner_name", "description", "online", "shared_at")
        print_json([row.model_dump(include=set(keys)) for row in rows])
        return
    if not rows:
        out.print("your inbox is empty")
        return
    from rich.table import Table

    from natster.client.people import label, look_alike_accounts

    alike = look_alike_accounts((row.owner, row.owner_name) for row in rows)
    table = Table("catalog", "owner", "description", "shared at")
    for row in rows:
        table.add_row(
            row.catalog,
            plain(label(row.owner, row.owner_name, "", alike)),
            plain(row.description or "(owner offline)"),
            row.shared_at[:16].replace("T", " "),
        )
    out.print(table)
    out.print("import one with: natster catalog import NAME OWNER (or --decline NAME)")


def import_(
    name: str = CatalogArgument,
    owner: str = typer.Argument(..., help="Who shared it: a name or an account key."),
    as_: str = typer.Option(None, "--as", help="Import under another local name."),
) -> None:
    """Import a catalog shared with me (it appears under NAME, or --as)."""
    from natster.client import remote
    from natster.client.people import person as find

    async def go(client: NatsterClient) -> tuple[str, str]:
        sharer = await remote.sharer(client, name, owner)  # the hub's own, "hub", too
        if sharer is None:
            who = await find(client, owner)
            sharer = (who.account, who.name)
        imported = await remote.import_catalog(client, name, sharer[0], as_)
        return sharer[1], imported.alias

    who, alias = run(with_client(go))
    out.print(plain(f"imported {name} of {who} as {alias}"))


def forget(
    name: str = CatalogArgument,
    owner: str = OwnerOption,
) -> None:
    """Take an imported catalog out of my library (it goes back to my inbox)."""
    from natster.client import remote

    async def go(client: NatsterClient) -> str:
        ref = await remote.forget_import(client, name, owner)
        return ref.display(client.account)

    shown = run(with_client(go))
    out.print(plain(f"forgot {shown}: it is in your inbox again (decline it there to end it)"))


def contents(
    name: str = CatalogArgument,
    owner: str = OwnerOption,
    path: str = typer.Option("", "--path", help="Only entries under this folder."),
    search: str = typer.Option("", "--search", help="Only entries matching this text."),
    json_: bool = JsonOption,
) -> None:
    """The files of a catalog I own or imported (fetched page by page)."""
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    run(with_client(lambda client: _contents(client, name, owner, prefix, search, json_)))


async def _contents(
    client: NatsterClient, name: str, owner: str | None, prefix: str, search: str, as_json: bool
) -> None:
    from natster.client import remote

    ref = await remote.resolve(client, name, owner)
    if as_json:  # one JSON array, streamed page by page: any size, bounded memory
        sys.stdout.write("[")
        first = True
        async for page in remote.pages(client, ref, prefix=prefix, search=search):
            for entry in page.entries:
                sys.stdout.write(("\n  " if first else ",\n  ") + entry.model_dump_json())
                first = False
        sys.stdout.write("\n]\n")
        return
    from rich.table import Table

    rows: list[tuple[str, str, str, str, str]] = []
    async for page in remote.pages(client, ref, prefix=prefix, search=search):
        rows.extend(
            (entry.path, human_size(entry.size), entry.mime, entry.hash[:12], entry.description)
            for entry in page.entries
        )
    described = any(row[4] for row in rows)  # no empty column taking the paths' room
    table = Table("path", "size", "type", "hash", *(["description"] if described else []))
    for path, size, mime, short, description in rows:
        cells: list[Text | str] = [plain(path), size, plain(mime), short]
        table.add_row(*cells, *([plain(description)] if described else []))
    out.print(table)
    out.print(f"{len(rows)} files")
