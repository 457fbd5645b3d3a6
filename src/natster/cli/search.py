"""``natster search TEXT``: one search over every catalog I can see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer

from ._out import JsonOption, err, human_size, out, plain, print_json, run, with_client

if TYPE_CHECKING:
    from natster.client import NatsterClient
    from natster.wire import EntryRow, SearchResults

Kind = Literal["video", "audio", "image", "document"]


def search(
    text: str = typer.Argument(
        ..., help="Words to find (each in a path, a description, or a song's or photo's tags)."
    ),
    kind: Kind = typer.Option(None, "--type", help="Only this kind of file."),
    json_: bool = JsonOption,
) -> None:
    """Search my catalogs and every imported one that is online, all at once."""
    found = run(with_client(lambda client: _search(client, text, kind)))
    if json_:
        print_json(found.model_dump())
        return
    from rich.table import Table

    hits = 0
    for catalog in found.catalogs:
        if catalog.state != "found":
            why = "offline" if catalog.state == "offline" else f"failed: {catalog.error}"
            err.print(plain(f"{catalog.alias}: {why}"))
            continue
        if not catalog.entries:
            continue
        owner = "mine" if catalog.mine else f"from {catalog.owner_name or catalog.owner[:12]}"
        table = Table("path", "size", "type", "about", title=plain(f"{catalog.alias} ({owner})"))
        for entry in catalog.entries:
            table.add_row(
                plain(entry.path), human_size(entry.size), plain(entry.mime), plain(about(entry))
            )
        out.print(table)
        if catalog.more:
            out.print(
                plain(
                    f"(more in {catalog.alias}: natster catalog contents "
                    f"{catalog.alias} --search ...)"
                )
            )
        hits += len(catalog.entries)
    if not hits:
        out.print(plain(f"nothing matches {text!r}"))


def about(entry: EntryRow) -> str:
    """A song's tags, or when and with what a photo was taken (the peer's words)."""
    media = entry.media
    if media is None:
        return ""
    if media.kind == "audio":
        song = " - ".join(t for t in (media.artist, media.title) if t)
        album = ", ".join(str(t) for t in (media.album, media.year) if t)
        return f"{song} ({album})" if song and album else song or album
    return ", ".join(t for t in (media.taken, media.camera) if t)


async def _search(client: NatsterClient, text: str, kind: Kind | None) -> SearchResults:
    from natster.client.browse import search_everywhere

    return await search_everywhere(client, text, kind)
