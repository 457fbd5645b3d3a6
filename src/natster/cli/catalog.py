"""``natster catalog ...``: the command group, its commands gathered from three modules."""

from __future__ import annotations

from collections.abc import Callable

import typer

from . import local, sharing, transfer

app = typer.Typer(
    rich_markup_mode=None, help="Turn folders into catalogs and share them.", no_args_is_help=True
)

COMMANDS: dict[str, Callable[..., None]] = {
    # this machine (local.py)
    "new": local.new,
    "rescan": local.rescan,
    "describe": local.describe,
    "rm": local.rm,
    "local": local.local,
    "export": local.export,
    # between people (sharing.py)
    "ls": sharing.ls,
    "share": sharing.share,
    "unshare": sharing.unshare,
    "inbox": sharing.inbox,
    "import": sharing.import_,
    "forget": sharing.forget,
    "contents": sharing.contents,
    # files (transfer.py)
    "download": transfer.download,
    "serve": transfer.serve,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
