"""``natster catalog download|serve``: files between people."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from natster import limits

from ._out import (
    CatalogArgument,
    DirectOption,
    LogFormatOption,
    LogVerboseOption,
    NoDirectOption,
    OwnerOption,
    err,
    fail,
    human_size,
    out,
    plain,
    print_json,
    run,
    say_direct,
    start_serving,
)

if TYPE_CHECKING:
    from natster.client import NatsterClient
    from natster.client.download import Existing
    from natster.client.mirror import MirrorReport
    from natster.client.remote import CatalogRef
    from natster.client.transfer import Transfer
    from natster.wire import EntryRow

    from ._progress import TransferBar


def download(
    name: str = CatalogArgument,
    hash_or_path: str = typer.Argument(
        None,
        help="A file's path in the catalog or its hash (12 characters or more), or a folder "
        "ending in /.",
    ),
    output: str = typer.Argument(
        None, help="Where to save it; ending in / (or an existing folder): into that folder."
    ),
    owner: str = OwnerOption,
    all_: Path = typer.Option(None, "--all", help="Keep a copy of the whole catalog in DIR."),
    delete: bool = typer.Option(
        False, "--delete", help="With a folder or --all: apply the owner's deletes and renames."
    ),
    watch: bool = typer.Option(
        False, "--watch", help="With a folder or --all: keep the copy in sync until Ctrl-C."
    ),
    adopt: bool = typer.Option(
        False,
        "--adopt",
        help="With a folder or --all: take over files already there with the owner's "
        "content (else a file the copy did not bring is never read, replaced or deleted).",
    ),
    force: bool = typer.Option(
        False, "--force", help="A file: replace a different file already at OUTPUT."
    ),
    rename: bool = typer.Option(
        False,
        "--rename",
        help="A file: keep a different file already at OUTPUT, and save as 'name (1).ext'.",
    ),
    wait: float = typer.Option(
        limits.DOWNLOAD_WAIT_S,
        "--wait",
        min=0,
        metavar="SECONDS",
        help="A file: ride out a hub outage this long, then stop (run it again to resume).",
    ),
    json_: bool = typer.Option(
        False,
        "--json",
        help="A file: say what was saved as JSON (target, path, size, sent, route).",
    ),
) -> None:
    """Download a file, a folder, or --all of a catalog: encrypted, verified, resumable.
    A file already at OUTPUT is never replaced unless --force says so."""
    if (hash_or_path is None) == (all_ is None):
        fail("give a file or folder of the catalog, or --all DIR")
    if force and rename:
        fail("--force replaces the file there, --rename keeps it: give one of them")
    existing: Existing = "replace" if force else "rename" if rename else "refuse"
    sync = _Sync(delete, watch, adopt)
    if json_ and (all_ is not None or sync != _Sync()):
        fail(_JSON_IS_FOR_A_FILE)
    run(_download(name, owner, hash_or_path, output, all_, sync, existing, wait, json_))


_JSON_IS_FOR_A_FILE = "--json is for a file; a folder's copy says what it did in words"


@dataclass(frozen=True)
class _Sync:
    """How a copy of a folder is kept: the owner's deletes applied, kept until Ctrl-C,
    files already there taken over."""

    delete: bool = False
    watch: bool = False
    adopt: bool = False


async def _download(
    name: str,
    owner: str | None,
    wanted: str | None,
    output: str | None,
    everything: Path | None,
    sync: _Sync,
    existing: Existing,
    wait: float = limits.DOWNLOAD_WAIT_S,
    as_json: bool = False,
) -> None:
    from natster.client import NatsterClient, remote
    from natster.client.download import default_target, locate, open_or_locate, settle_target
    from natster.client.download import download as download_file
    from natster.client.transfer import Transfer

    from ._progress import TransferBar

    patience = None if sync.watch else wait
    async with await NatsterClient.connect(reconnect=sync.watch, wait=patience) as client:
        ref = await remote.resolve(client, name, owner)
        if everything is not None:
            await _mirror(client, ref, everything, "", sync)
            return
        entry: Transfer | EntryRow | str
        if sync == _Sync():  # perhaps one file: opened at once, by its path
            entry = await open_or_locate(client, ref, wanted or "")
        else:
            entry = await locate(client, ref, wanted or "")
        if isinstance(entry, str):  # a folder: a copy of it in OUTPUT/<its name>
            if existing != "refuse":
                fail("--force and --rename are for a file; a folder's copy has --adopt")
            if as_json:
                fail(_JSON_IS_FOR_A_FILE)
            into = Path(output or ".") / entry.rstrip("/").rsplit("/", 1)[-1]
            await _mirror(client, ref, into, entry, sync)
            return
        if sync != _Sync():
            fail("--delete, --watch and --adopt keep a folder: name a folder (ending in /)")
        where = default_target(entry, output)
        target = settle_target(where, entry, existing)
        if target is None:  # that very file is there already
            if isinstance(entry, Transfer):
                await entry.close()
            err.print(plain(f"already here: {where} (the same sha256), 0 bytes sent"))
            _saved(where, entry.path, entry.size, 0, None, as_json)
            return
        transfer = entry if isinstance(entry, Transfer) else None

        def progress(done: int, total: int) -> None:
            bar.update(done, total)
            if transfer is not None:
                bar.via(transfer.route)

        with TransferBar() as bar:
            bar.start(entry.path, entry.size)
            async with _telling_outages(client, bar, transfer):
                sent = await download_file(
                    client,
                    ref,
                    entry,
                    target,
                    progress=progress,
                    resumed=functools.partial(_resumed, entry.path),
                )
        route = transfer.route if transfer is not None else None
        if route is not None and not as_json:  # the way its bytes came
            err.print(plain(f"{entry.path}: {route}"))
        _saved(target, entry.path, entry.size, sent, route, as_json)


def _saved(target: Path, path: str, size: int, sent: int, route: str | None, as_json: bool) -> None:
    """What a file's download left: its path here (or, ``as_json``, the whole story)."""
    if as_json:
        print_json(
            {"target": str(target), "path": path, "size": size, "sent": sent, "route": route}
        )
    else:
        out.print(plain(str(target)))


@contextlib.asynccontextmanager
async def _telling_outages(
    client: NatsterClient, bar: TransferBar, transfer: Transfer | None
) -> AsyncIterator[None]:
    """While the body runs, the bar says when the hub is unreachable and when it is back
    (and, if ``transfer`` comes direct meanwhile, that it does not wait for it)."""
    import asyncio

    def why() -> str | None:
        if client.connected:
            return None
        if transfer is not None and transfer.direct_now:
            return "hub unreachable: the bytes still come direct"
        return "hub unreachable, waiting..."

    async def watch() -> None:
        while True:
            await asyncio.sleep(OUTAGE_CHECK_S)
            bar.waiting(why())

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


OUTAGE_CHECK_S = 0.25  # how often a download's bar looks at the connection


def _resumed(path: str, kept: int) -> None:
    err.print(plain(f"resuming {path}: {human_size(kept)} already here"))


async def _mirror(
    client: NatsterClient, ref: CatalogRef, folder: Path, prefix: str, sync: _Sync
) -> None:
    from natster.client.mirror import Hooks, keep_in_sync, mirror_pass

    from ._progress import TransferBar

    label = ref.display(client.account) + (f" {prefix}" if prefix else "")

    def summary(report: MirrorReport) -> None:
        for skipped in report.skipped:
            err.print(plain(f"skipped {skipped}"))
        out.print(plain(f"{label} -> {folder}: {_counts(report)}"))

    with TransferBar() as bar:
        hooks = Hooks(start=bar.start, progress=bar.update, resumed=_resumed)
        if sync.watch:
            waiting = lambda why: err.print(plain(why))  # noqa: E731
            out.print(plain(f"keeping {folder} in sync with {label} (Ctrl-C stops)"))
            await keep_in_sync(
                client,
                ref,
                folder,
                prefix=prefix,
                delete=sync.delete,
                adopt=sync.adopt,
                hooks=hooks,
                after_pass=summary,
                waiting=waiting,
            )
            return
        report = await mirror_pass(
            client, ref, folder, prefix=prefix, delete=sync.delete, adopt=sync.adopt, hooks=hooks
        )
    summary(report)
    if report.skipped:
        fail(f"{len(report.skipped)} file(s) were skipped (see above); the rest are here")


def _counts(report: MirrorReport) -> str:
    return (
        f"{report.new} new, {report.updated} updated, {report.renamed} renamed, "
        f"{report.deleted} deleted, {report.unchanged} unchanged; "
        f"{human_size(report.sent)} sent"
    )


def serve(
    names: list[str] = typer.Argument(..., help="One or more of my catalogs."),
    direct: int | None = DirectOption,
    no_direct: bool = NoDirectOption,
    verbose: bool = LogVerboseOption,
    log_format: str = LogFormatOption,
) -> None:
    """Serve catalogs to those I shared them with, until Ctrl-C."""
    start_serving(verbose, log_format, direct, no_direct)
    run(_serve(names, direct, no_direct))


async def _serve(names: list[str], direct_port: int | None, no_direct: bool) -> None:
    from natster._heap import settle
    from natster.catalog.facts import ffmpeg
    from natster.client import Home, NatsterClient
    from natster.services.catalog_service import CatalogServer
    from natster.services.direct import direct_endpoint

    from ._signals import stop_on_signals

    stop = stop_on_signals()
    async with await NatsterClient.connect(reconnect=True) as client:
        home = Home.default()
        direct = direct_endpoint(home.path / "direct", direct_port, off=no_direct)
        server = CatalogServer(client, home.path, names, direct=direct)
        await server.start()
        settle()
        out.print(f"serving {', '.join(server.names)} (Ctrl-C stops)")
        say_direct(direct)
        if ffmpeg() is None:  # said once: the rest works without it
            out.print(
                "no ffmpeg here: films are listed without their length, codecs and frames "
                "(install ffmpeg, or point NATSTER_FFMPEG at one, and serve again)"
            )
        try:
            await stop.wait()
        finally:
            await server.stop()
    out.print("stopped")
