"""``natster catalog download|serve``: files between people."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._out import LogFormatOption, OwnerOption, err, fail, out, plain, run, setup_logging

if TYPE_CHECKING:
    from natster.wire import EntryRow


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
    from natster.client import NatsterClient, remote
    from natster.client.download import default_target, destination, find_entry, verified
    from natster.client.download import download as download_file
    from natster.errors import UnsafePath

    from ._progress import TransferBar

    async with await NatsterClient.connect() as client:
        ref = await remote.resolve(client, name, owner)
        entries: list[tuple[EntryRow, Path]] = []
        skipped = 0
        if mirror is None:
            entry = await find_entry(client, ref, wanted or "")
            entries.append((entry, default_target(entry, output)))
        else:
            async for page in remote.pages(client, ref):
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


def serve(
    names: list[str] = typer.Argument(..., help="One or more of my catalogs."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    log_format: str = LogFormatOption,
) -> None:
    """Serve catalogs to those I shared them with, until Ctrl-C."""
    setup_logging(verbose, log_format)
    run(_serve(names))


async def _serve(names: list[str]) -> None:
    from natster.client import Home, NatsterClient
    from natster.services.catalog_service import CatalogServer

    from ._signals import stop_on_signals

    stop = stop_on_signals()
    async with await NatsterClient.connect(reconnect=True) as client:
        server = CatalogServer(client, Home.default().path, names)
        await server.start()
        out.print(f"serving {', '.join(server.names)} (Ctrl-C stops)")
        try:
            await stop.wait()
        finally:
            await server.stop()
    out.print("stopped")
