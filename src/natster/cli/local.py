"""``natster catalog new|rescan|describe|rm|local|export``: my catalogs, on this machine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from natster.errors import NatsterError

from ._out import CatalogArgument, JsonOption, err, fail, human_size, out, plain, print_json

if TYPE_CHECKING:
    from natster.catalog import Catalogs, ScanReport

    from ._progress import ScanBar


def _catalogs() -> Catalogs:
    from natster.catalog import Catalogs

    try:
        return Catalogs()
    except NatsterError as exc:
        fail(str(exc))


def _summary(report: ScanReport, verbose: bool) -> None:
    parts = [
        f"{report.added} added",
        f"{report.changed} changed",
        f"{report.removed} removed",
        f"{report.renamed} renamed",
        f"{report.unchanged} unchanged",
        f"{len(report.skipped)} skipped",
    ]
    out.print(", ".join(parts) + f" in {report.seconds:.1f} s (revision {report.revision})")
    shown = report.skipped if verbose else report.skipped[:10]
    for item in shown:
        err.print(plain(f"  skipped {item.path}: {item.reason}"))
    if len(report.skipped) > len(shown):
        err.print(f"  ... and {len(report.skipped) - len(shown)} more (--verbose lists all)")


VerboseOption = typer.Option(False, "--verbose", "-v", help="List every skipped file.")


def new(
    name: str = typer.Argument(..., help="1-64 of a-z, 0-9, '-' and '_'."),
    description: str = typer.Argument(..., help="What it holds, for the people you share it with."),
    path: Path = typer.Argument(..., help="The folder to catalog."),
    verbose: bool = VerboseOption,
    json_: bool = JsonOption,
) -> None:
    """Scan a folder into a new catalog."""
    report = _scan(
        f"scanning {path}",
        lambda catalogs, bar: catalogs.new(name, description, path, bar),
        "interrupted: the catalog was not created",
    )
    if not json_:
        out.print(f"catalog {name} created")
    _report(report, verbose, json_)


def rescan(
    name: str = CatalogArgument, verbose: bool = VerboseOption, json_: bool = JsonOption
) -> None:
    """Bring a catalog in line with its folder (only changed files are hashed)."""
    report = _scan(
        f"rescanning {name}",
        lambda catalogs, bar: catalogs.rescan(name, bar),
        "interrupted: the catalog is as it was before the rescan",
    )
    _report(report, verbose, json_)


def _scan(
    label: str, scan: Callable[[Catalogs, ScanBar], ScanReport], interrupted: str
) -> ScanReport:
    """Run a scan with a progress bar; an error or Ctrl-C is one line (nothing is half done)."""
    from ._progress import ScanBar

    with _catalogs() as catalogs:
        try:
            with ScanBar(label) as bar:
                return scan(catalogs, bar)
        except NatsterError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail(interrupted)


def _report(report: ScanReport, verbose: bool, json_: bool) -> None:
    if json_:
        print_json(report.as_dict())
    else:
        _summary(report, verbose)


def describe(
    name: str = CatalogArgument,
    path_or_hash: str = typer.Argument(..., help="A file's path, or its hash (8+ characters)."),
    description: str = typer.Argument(..., help="The new description (empty: none)."),
) -> None:
    """Describe a file (by path, or every file with that hash)."""
    with _catalogs() as catalogs:
        try:
            paths = catalogs.describe(name, path_or_hash, description)
        except NatsterError as exc:
            fail(str(exc))
    for path in paths:
        out.print(plain(f"described {path}"))


def rm(
    name: str = CatalogArgument,
    force: bool = typer.Option(
        False, "--force", help="Even if shared or served: unshare it from everyone first."
    ),
) -> None:
    """Forget a catalog (the files in its folder are never touched)."""
    import asyncio

    from natster.client import Home
    from natster.client.forget import forget
    from natster.errors import ConnectionFailed, NotInitialized, RequestTimeout, ServiceUnavailable

    from ._out import with_client

    with _catalogs() as catalogs:
        try:
            catalogs.info(name)
            Home.default().load()
        except NotInitialized:  # never joined a hub: nobody can have it
            catalogs.remove(name)
            out.print(f"catalog {name} forgotten; its files are untouched")
            return
        except NatsterError as exc:
            fail(str(exc))
    try:
        done = asyncio.run(with_client(lambda client: forget(client, name, force=force)))
    except (ConnectionFailed, RequestTimeout, ServiceUnavailable) as exc:
        if not force:
            fail(f"{name} was not removed: the hub cannot say who it is shared with ({exc})")
        with _catalogs() as catalogs:  # out of reach: forget it here all the same
            try:
                catalogs.remove(name)
            except NatsterError as gone:
                fail(str(gone))
        err.print(plain(f"{name} forgotten here; the hub was out of reach, so its shares stay"))
        return
    except NatsterError as exc:
        fail(str(exc))
    if done.unshared:
        out.print(plain(f"{name} is no longer shared with {', '.join(done.unshared)}"))
    if done.served:
        err.print(plain(f"stop the `natster catalog serve` serving {name}: it cannot serve it now"))
    out.print(f"catalog {name} forgotten; its files are untouched")


def local(json_: bool = JsonOption) -> None:
    """My catalogs on this machine."""
    with _catalogs() as catalogs:
        infos = catalogs.local()
    if json_:
        print_json([info.as_dict() for info in infos])
        return
    if not infos:
        out.print("no catalogs yet: natster catalog new NAME DESCRIPTION PATH")
        return
    from rich.table import Table

    table = Table("name", "description", "files", "size", "last modified", "folder")
    for info in infos:
        table.add_row(
            info.name,
            plain(info.description),
            str(info.files),
            human_size(info.bytes),
            info.last_modified,
            plain(info.root),
        )
    out.print(table)


def export(name: str = CatalogArgument) -> None:
    """Print a catalog as JSON in the original Natster's shape."""
    with _catalogs() as catalogs:
        try:
            for piece in catalogs.export(name):
                sys.stdout.write(piece)
        except NatsterError as exc:
            fail(str(exc))
