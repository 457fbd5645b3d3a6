"""``natster init``, ``whoami``, ``rename`` and ``leave``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from natster import limits
from natster.errors import NatsterError

from ._out import (
    JsonOption,
    ask_passphrase,
    fail,
    out,
    people_counted,
    plain,
    print_fields,
    print_json,
    run,
    with_client,
)

if TYPE_CHECKING:
    from natster.client import Home, NatsterClient


def init(
    invite: str | None = typer.Argument(
        None,
        help="The invite: words@hub.example.org/... or natster-invite-...; '-' or none "
        "reads it from standard input or asks for it (on the command line, anyone who "
        "lists this machine's processes sees it: it works once).",
        show_default=False,
    ),
    invite_option: str | None = typer.Option(
        None, "--invite", metavar="INVITE", help="The invite, as an option."
    ),
    name: str | None = typer.Option(
        None, help="Your display name [default: asked on a terminal, else your login]."
    ),
    url: str | None = typer.Option(None, help="Reach the hub at this URL instead of the invite's."),
    device: str | None = typer.Option(
        None,
        "--device",
        help="Join an account you have as one more device: the code `natster device add` "
        "printed ('-' reads it from standard input).",
    ),
    restore: Path | None = typer.Option(
        None, "--restore", help="Bring your account back from the file `natster backup` wrote."
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="Read --restore's passphrase from this file ('-': stdin)."
    ),
) -> None:
    """Join a hub: create your account (its key never leaves this machine)."""
    from natster.client import Home, join
    from natster.client.joining import default_name

    home = Home.default()
    if device is not None:
        _init_device(home, device)
        return
    if restore is not None:
        _init_restore(home, restore, passphrase_file)
        return
    if invite is not None and invite_option is not None:
        fail("give the invite once: as INVITE or as --invite")
    invite = invite if invite_option is None else invite_option
    if invite in (None, "-"):
        invite = _read_invite()
    if name is None and sys.stdin.isatty():
        name = str(
            typer.prompt("Your name, as others on the hub will see it", default=default_name())
        )
    context = run(join(invite, home=home, name=name, url=url))
    out.print(plain(f"welcome, {context.name}: you are on the hub at {context.url}"))
    out.print(f"state saved in {home.path}")


def _init_restore(home: Home, file: Path, passphrase_file: Path | None) -> None:
    from natster.client.recovery import LOST, restore_recovery

    passphrase = ask_passphrase(passphrase_file, twice=False)
    context = run(restore_recovery(home, file, passphrase))
    out.print(plain(f"welcome back, {context.name}: your account is on this machine again"))
    out.print(
        f"the machine it was restored from is the device {LOST!r}: "
        f"`natster device revoke {LOST}` cuts it off (do, if it was lost)"
    )


def backup(
    file: Path = typer.Argument(..., help="Where to write the recovery file."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="Read the passphrase from this file ('-': stdin)."
    ),
) -> None:
    """Seal this machine's account (its key) into a file, with a passphrase: `natster
    init --restore FILE` brings it back on another machine."""
    from natster.client import Home
    from natster.client.recovery import write_recovery

    passphrase = ask_passphrase(passphrase_file, twice=True)
    try:
        written = write_recovery(Home.default(), file, passphrase)
    except NatsterError as exc:
        fail(str(exc))
    out.print(plain(f"your account is sealed in {written}: keep it, and the passphrase, apart"))


def _init_device(home: Home, code: str) -> None:
    import socket

    from natster.client.devices import redeem

    if code == "-":
        code = _read_invite("device code")
    context = run(redeem(code, home=home, host=socket.gethostname()[:64]))
    out.print(
        f"this machine is now {context.device!r}, a {context.rights} device of {context.name}"
    )
    out.print(f"state saved in {home.path} (no account key: that stays on the first machine)")


def _read_invite(what: str = "invite") -> str:
    """The invite from standard input (piped), or pasted or typed at a prompt that shows
    it (four words typed blind go wrong; the code is single-use and short-lived)."""
    if sys.stdin.isatty():
        text = str(typer.prompt(f"Paste or type your {what}"))
    else:
        text = sys.stdin.read(limits.MAX_INVITE_CHARS + 1)
    text = text.strip()
    if not text:
        fail(f"no {what} given: paste it, pipe it in, or pass it as an option")
    return text


def rename(
    name: str = typer.Argument(..., help="Your new display name (unique on the hub)."),
) -> None:
    """Change the name others on the hub see you by."""

    async def renaming(client: NatsterClient) -> tuple[str, str]:
        return await client.rename(name), client.context.name

    before, after = run(with_client(renaming))
    out.print(plain(f"you are now {after} on the hub (were {before})"))


def leave(
    yes: bool = typer.Option(False, "--yes", help="Do not ask: leave at once."),
) -> None:
    """Delete your account from the hub: your shares end, your imports go, your name is
    free again. This machine's catalogs stay (`natster init` joins again)."""
    from natster.client import Home

    home = Home.default()
    try:
        context = home.load()
    except NatsterError as exc:
        fail(str(exc))
    if not yes:
        if not sys.stdin.isatty():
            fail("leaving deletes your account from the hub: pass --yes to confirm")
        out.print(
            plain(
                f"this deletes {context.name} from the hub at {context.url}: every share "
                "you gave or were given ends, and others may take your name"
            )
        )
        typed = str(typer.prompt(f"Type {context.name} to leave", default="", show_default=False))
        if typed.strip() != context.name:
            fail("not left: the name typed was not yours")

    async def leaving(client: NatsterClient) -> str:
        return (await client.leave()).name

    name = run(with_client(leaving, home))
    out.print(plain(f"{name} left the hub; your catalogs stay on this machine"))


def whoami_command(json_: bool = JsonOption) -> None:
    """Show this machine's account (--json: its key too)."""
    from natster.client import whoami

    try:
        facts: dict[str, object] = dict(whoami())
    except NatsterError as exc:
        fail(str(exc))
    facts.update(run(_remote_whoami()))
    if json_:
        print_json(facts)
        return
    print_fields(  # a person reads names: the account key is in --json
        {
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
        remote = await with_client(lambda client: client.global_whoami())
    except NatsterError as exc:
        return {"hub_error": str(exc)}
    return {"initialized_at": remote.initialized_at, "bound_login": remote.bound_login}


def _login(bound: object) -> str:
    if isinstance(bound, dict):
        return f"bound at {bound.get('at')} ({bound.get('client') or 'unnamed client'})"
    return "never"


def stats_command(json_: bool = JsonOption) -> None:
    """Platform statistics: accounts, catalogs online, active shares."""
    numbers = run(with_client(lambda client: client.stats()))
    if json_:
        print_json(numbers.model_dump())
        return
    print_fields(
        {
            "accounts": people_counted(numbers.accounts),
            "catalogs online": numbers.catalogs_online,
            "active shares": numbers.shares,
        }
    )
