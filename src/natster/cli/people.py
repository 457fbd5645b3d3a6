"""``natster people [TEXT]``: the members of the hub, by name (to share with)."""

from __future__ import annotations

import typer

from ._out import JsonOption, out, plain, print_json, run, with_client


def people(
    text: str = typer.Argument("", help="Only members whose name contains this."),
    json_: bool = JsonOption,
) -> None:
    """Members of the hub by name: who you can share with."""
    found = run(with_client(lambda client: client.people(text)))
    if json_:
        print_json([p.model_dump() for p in found.people])
        return
    if not found.people:
        out.print(plain(f"nobody on this hub is named like {text!r}" if text else "nobody yet"))
        return
    from rich.table import Table

    table = Table("name", "account")
    for person in found.people:
        table.add_row(plain(person.name), person.account)
    out.print(table)
    if found.more:
        out.print("more members match: narrow it down with TEXT")
