"""``natster init`` and ``natster whoami``."""

from __future__ import annotations

import typer

from natster.client import Home, NatsterClient, join, whoami
from natster.errors import NatsterError
from natster.wire import Stats

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
        facts: dict[str, object] = dict(whoami())
    except NatsterError as exc:
        fail(str(exc))
    facts.update(run(_remote_whoami()))
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
            "web login": _login(facts.get("bound_login")),
            "hub says": facts.get("hub_error") or "ok",
        }
    )


async def _remote_whoami() -> dict[str, object]:
    """What the global service knows; whoami still works (locally) with the hub down."""
    try:
        async with await NatsterClient.connect() as client:
            remote = await client.global_whoami()
    except NatsterError as exc:
        return {"hub_error": str(exc)}
    return {"initialized_at": remote.initialized_at, "bound_login": remote.bound_login}


def _login(bound: object) -> str:
    if isinstance(bound, dict):
        return f"bound at {bound.get('at')} ({bound.get('client') or 'unnamed client'})"
    return "never"


def stats_command(
    json_: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Platform statistics: accounts, catalogs online, active shares."""
    numbers = run(_stats())
    if json_:
        print_json(numbers.model_dump())
        return
    print_fields(
        {
            "accounts": numbers.accounts,
            "catalogs online": numbers.catalogs_online,
            "active shares": numbers.shares,
        }
    )


async def _stats() -> Stats:
    async with await NatsterClient.connect() as client:
        return await client.stats()
