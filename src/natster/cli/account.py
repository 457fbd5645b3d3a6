"""``natster init`` and ``natster whoami``."""

from __future__ import annotations

import typer

from natster.client import Home, join, whoami
from natster.errors import NatsterError

from ._out import fail, out, print_fields, print_json, run


def init(
    invite: str = typer.Option(..., "--invite", help="The invite string from the hub's owner."),
    name: str | None = typer.Option(None, help="Your display name [default: your login]."),
    url: str | None = typer.Option(None, help="Reach the hub at this URL instead of the invite's."),
) -> None:
    """Join a hub: create your account (its key never leaves this machine)."""
    home = Home.default()
    context = run(join(invite, home=home, name=name, url=url))
    out.print(f"welcome, {context.name}: your account is {context.account}")
    out.print(f"state saved in {home.path}")


def whoami_command(
    json_: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show this machine's account."""
    try:
        facts = whoami()
    except NatsterError as exc:
        fail(str(exc))
    if json_:
        print_json(facts)
        return
    print_fields(
        {
            "account": facts["account"],
            "name": facts["name"],
            "hub": facts["url"],
            "creds": facts["creds"],
            "initialized at": facts["initialized_at"],
        }
    )
