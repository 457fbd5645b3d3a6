"""``natster catalog ls|share|unshare|inbox|import|contents``: catalogs between people."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ._out import JsonOption, OwnerOption, human_size, out, plain, print_json, run, with_client

if TYPE_CHECKING:
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

    me = Home.default().load().account
    table = Table("", "catalog", "owner", "shared with", "imported", "revision")
    for row in rows:
        dot = Text("●", "green") if row.online else Text("○", "bright_black")
        table.add_row(
            dot,
            row.catalog,
            "me" if row.owner == me else plain(row.owner),
            "me" if row.to == me else plain(row.to),
            "yes" if row.imported else "no",
            "-" if row.revision is None else str(row.revision),
        )
    out.print(table)


def share(name: str, account: str) -> None:
    """Share one of my catalogs with an account."""
    from natster.client import remote

    reply = run(with_client(lambda client: remote.share(client, name, account)))
    note = " (it already was)" if reply.duplicate else ""
    out.print(f"shared {name} with {account}{note}")


def unshare(name: str, account: str) -> None:
    """Stop sharing a catalog with an account (their access ends at once)."""
    from natster.client import remote

    run(with_client(lambda client: remote.unshare(client, name, account)))
    out.print(f"{name} is no longer shared with {account}")


def inbox(json_: bool = JsonOption) -> None:
    """Catalogs shared with me that I have not imported yet."""
    from natster.client import remote

    rows = run(with_client(remote.inbox))
    if json_:
        keys = ("catalog", "owner", "description", "online", "shared_at")
        print_json([row.model_dump(include=set(keys)) for row in rows])
        return
    if not rows:
        out.print("your inbox is empty")
        return
    from rich.table import Table

    table = Table("catalog", "owner", "description", "shared at")
    for row in rows:
        table.add_row(
            row.catalog,
            plain(row.owner),
            plain(row.description or "(owner offline)"),
            row.shared_at,
        )
    out.print(table)
    out.print("import one with: natster catalog import NAME OWNER")


def import_(
    name: str,
    owner: str,
    as_: str = typer.Option(None, "--as", help="Import under another local name."),
) -> None:
    """Import a catalog shared with me (it appears under NAME, or --as)."""
    from natster.client import remote

    imported = run(with_client(lambda client: remote.import_catalog(client, name, owner, as_)))
    out.print(f"imported {name} of {owner} as {imported.alias}")


def contents(
    name: str,
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

    table = Table("path", "size", "type", "hash", "description")
    count = 0
    async for page in remote.pages(client, ref, prefix=prefix, search=search):
        for entry in page.entries:
            table.add_row(
                plain(entry.path),
                human_size(entry.size),
                plain(entry.mime),
                entry.hash[:12],
                plain(entry.description),
            )
            count += 1
    out.print(table)
    out.print(f"{count} files")
