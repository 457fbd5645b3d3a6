"""``natster catalog share|unshare|inbox|import|contents|serve``: catalogs between people."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from natster.client import Home, NatsterClient
from natster.client import catalogs as api
from natster.client.download import default_target, destination, find_entry, verified
from natster.client.download import download as download_file
from natster.errors import UnsafePath
from natster.services.catalog_service import CatalogServer
from natster.wire import EntryRow

from ._out import LogFormatOption, err, fail, out, plain, print_json, run, setup_logging
from ._progress import TransferBar
from .catalog import app, human_size

JsonOption = typer.Option(False, "--json", help="Machine-readable output.")
OwnerOption = typer.Option(None, "--owner", help="The owner's account, when names clash.")


async def _with_client(fn: Any, *args: Any) -> Any:
    async with await NatsterClient.connect() as client:
        return await fn(client, *args)


@app.command()
def share(name: str, account: str) -> None:
    """Share one of my catalogs with an account."""
    reply = run(_with_client(api.share, name, account))
    note = " (it already was)" if reply.duplicate else ""
    out.print(f"shared {name} with {account}{note}")


@app.command()
def unshare(name: str, account: str) -> None:
    """Stop sharing a catalog with an account (their access ends at once)."""
    run(_with_client(api.unshare, name, account))
    out.print(f"{name} is no longer shared with {account}")


@app.command()
def inbox(json_: bool = JsonOption) -> None:
    """Catalogs shared with me that I have not imported yet."""
    rows = run(_with_client(api.inbox))
    if json_:
        print_json(
            [
                {
                    "catalog": r.catalog,
                    "owner": r.owner,
                    "description": r.description,
                    "online": r.online,
                    "shared_at": r.shared_at,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        out.print("your inbox is empty")
        return
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


@app.command("import")
def import_(
    name: str,
    owner: str,
    as_: str = typer.Option(None, "--as", help="Import under another local name."),
) -> None:
    """Import a catalog shared with me (it appears under NAME, or --as)."""
    imported = run(_with_client(api.import_catalog, name, owner, as_))
    out.print(f"imported {name} of {owner} as {imported.alias}")


@app.command()
def contents(
    name: str,
    owner: str = OwnerOption,
    path: str = typer.Option("", "--path", help="Only entries under this folder."),
    search: str = typer.Option("", "--search", help="Only entries matching this text."),
    json_: bool = JsonOption,
) -> None:
    """The files of a catalog I own or imported (fetched page by page)."""
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    run(_contents(name, owner, prefix, search, json_))


async def _contents(name: str, owner: str | None, prefix: str, search: str, as_json: bool) -> None:
    async with await NatsterClient.connect() as client:
        ref = await api.resolve(client, name, owner)
        if as_json:  # one JSON array, streamed page by page: any size, bounded memory
            sys.stdout.write("[")
            first = True
            async for page in api.pages(client, ref, prefix=prefix, search=search):
                for entry in page.entries:
                    sys.stdout.write(("\n  " if first else ",\n  ") + entry.model_dump_json())
                    first = False
            sys.stdout.write("\n]\n")
            return
        table = Table("path", "size", "type", "hash", "description")
        count = 0
        async for page in api.pages(client, ref, prefix=prefix, search=search):
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


@app.command()
def download(
    name: str,
    hash_or_path: str = typer.Argument(None, help="A file's path in the catalog, or its sha256."),
    output: Path = typer.Argument(None, help="Where to save it [default: its name, here]."),
    owner: str = OwnerOption,
    all_: Path = typer.Option(None, "--all", help="Mirror the whole catalog into this folder."),
) -> None:
    """Download a file (or --all of them): encrypted, verified, resumable."""
    if (hash_or_path is None) == (all_ is None):
        fail("give a file (path or hash), or --all DIR")
    done, skipped = run(_download(name, owner, hash_or_path, output, all_))
    for path in done:
        out.print(plain(str(path)))
    if skipped:
        fail(f"{skipped} file(s) were skipped (see above); the rest are here")


async def _download(
    name: str, owner: str | None, wanted: str | None, output: Path | None, mirror: Path | None
) -> tuple[list[Path], int]:
    async with await NatsterClient.connect() as client:
        ref = await api.resolve(client, name, owner)
        entries: list[tuple[EntryRow, Path]] = []
        skipped = 0
        if mirror is None:
            entry = await find_entry(client, ref, wanted or "")
            entries.append((entry, default_target(entry, output)))
        else:
            async for page in api.pages(client, ref):
                for entry in page.entries:
                    try:
                        entries.append((entry, destination(mirror, entry)))
                    except UnsafePath as exc:
                        err.print(plain(f"skipped {entry.path}: {exc}"))
                        skipped += 1
        done = []
        with TransferBar() as bar:
            for entry, target in entries:
                if mirror is not None and verified(target, entry.hash):
                    done.append(target)  # already here, verified
                    continue
                bar.start(entry.path, entry.size)
                sent = await download_file(client, ref, entry, target, progress=bar.update)
                if sent < entry.size:
                    kept = entry.size - sent
                    err.print(plain(f"resumed {entry.path}: {kept} bytes were already here"))
                done.append(target)
        return done, skipped


@app.command()
def serve(
    names: list[str] = typer.Argument(..., help="One or more of my catalogs."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    log_format: str = LogFormatOption,
) -> None:
    """Serve catalogs to those I shared them with, until Ctrl-C."""
    setup_logging(verbose, log_format)
    run(_serve(names))


async def _serve(names: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await NatsterClient.connect(reconnect=True) as client:
        server = CatalogServer(client, Home.default().path, names)
        await server.start()
        out.print(f"serving {', '.join(server.names)} (Ctrl-C stops)")
        try:
            await stop.wait()
        finally:
            await server.stop()
    out.print("stopped")
