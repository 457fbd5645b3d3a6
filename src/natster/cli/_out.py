"""Output and error plumbing shared by every command.

Nothing heavy is imported here at module level: ``natster --help`` must start fast, so
rich, asyncio and the client are imported by the commands that use them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from natster.errors import NatsterError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.text import Text

    from natster.client import Home, NatsterClient
    from natster.services.direct import DirectEndpoint

T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Machine-readable output (stable keys).")
OwnerOption = typer.Option(
    None, "--owner", help="Whose catalog (a name or account key), when names clash."
)
CatalogArgument = typer.Argument(..., help="The catalog's name.")
DirectOption = typer.Option(
    None,
    "--direct",
    min=1,
    max=65535,
    help="Serve transfers straight from this machine's address on this port, from the "
    "start [default: a free port, started by the first download, if this machine has "
    "an address but loopback].",
)
NoDirectOption = typer.Option(
    False, "--no-direct", help="Never serve transfers straight from this machine."
)
LogVerboseOption = typer.Option(False, "--verbose", "-v", help="Log debug messages too.")
LogFormatOption = typer.Option(
    "text", "--log-format", help="text, or json (one object per line) for log collectors."
)


class _Console:
    """A rich console made on first use.

    No markup or emoji codes anywhere: text from other accounts (names, paths,
    descriptions, a server's error messages) must print as what it is. Styles are
    explicit (Text), never parsed out of strings.
    """

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=self._stderr, highlight=False, markup=False, emoji=False, soft_wrap=True
            )
        return self._console

    def print(self, *objects: Any) -> None:
        self.console.print(*objects)


out = _Console(stderr=False)
err = _Console(stderr=True)


def visible(text: str) -> str:
    """``text`` with every control or format character (ANSI escapes, newlines, bidi
    overrides) shown as an escape, so a peer cannot restyle, retitle or hide anything."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def plain(text: str, style: str = "") -> Text:
    """Text for the terminal, printed exactly (see :func:`visible`)."""
    from rich.text import Text

    return Text(visible(text), style=style)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; natster errors become one line and exit 1."""
    import asyncio

    from ._signals import interruptible

    try:
        return asyncio.run(interruptible(coro))
    except NatsterError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def ask_passphrase(source: Path | None, *, twice: bool) -> str:
    """From a file ('-': stdin), or asked on a terminal (twice for a new one)."""
    if source is not None:
        try:
            text = sys.stdin.read() if str(source) == "-" else source.read_text()
        except OSError as exc:
            fail(f"{source} cannot be read: {exc.strerror}")
        return text.rstrip("\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask the passphrase on: pass --passphrase-file")
    return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=twice))


def checked(call: Callable[[], T]) -> T:
    """``call``'s result (a command's work that needs no hub); natster errors become one
    line and exit 1, as ``run`` makes them."""
    try:
        return call()
    except NatsterError as exc:
        fail(str(exc))


async def with_client(call: Callable[[NatsterClient], Awaitable[T]], home: Home | None = None) -> T:
    """``call`` with a connection to the hub as this machine's user, closed afterwards."""
    from natster.client import NatsterClient

    async with await NatsterClient.connect(home) as client:
        return await call(client)


def people_counted(count: object) -> str:
    """How `stats`, `hub status` and the web app count accounts: people only."""
    return f"{count} (people; the hub's own account is not counted)"


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 1 (the message may carry a peer's words: shown exactly)."""
    from rich.text import Text

    err.print(Text.assemble(("error:", "red"), " ", plain(message)))
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def print_fields(rows: dict[str, Any]) -> None:
    """``key  value`` lines, aligned (plain text: no table to load for a few facts)."""
    width = max((len(key) for key in rows), default=0)
    for key, value in rows.items():
        sys.stdout.write(f"{key:<{width}}  {visible('-' if value is None else str(value))}\n")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def expiry(expires_at: int | None) -> str:
    """When something expires (unix seconds), in UTC to the minute; None is never."""
    import datetime

    if expires_at is None:
        return "never"
    when = datetime.datetime.fromtimestamp(expires_at, tz=datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.lower())
    if match is None:
        fail(f"{text!r} is not a duration: use e.g. 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(verbose: bool = False, log_format: str = "text") -> None:
    if log_format not in ("text", "json"):
        fail("--log-format is text or json")
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("nats").setLevel(logging.WARNING)


def start_serving(verbose: bool, log_format: str, direct: int | None, no_direct: bool) -> None:
    """What a serving command does first: logging as asked, and the one check of its
    options (``--direct PORT`` and ``--no-direct`` cannot both be meant)."""
    setup_logging(verbose, log_format)
    if direct is not None and no_direct:
        fail("--direct PORT serves transfers directly, --no-direct never: give one of them")


def say_direct(direct: DirectEndpoint | None) -> None:
    """How transfers can come straight from this machine (nothing: they cannot)."""
    if direct is None:
        return
    if direct.started:
        out.print(f"direct transfers at {', '.join(direct.urls)}")
    else:
        out.print(
            f"direct transfers from {', '.join(direct.hosts)}, started by the first "
            "download (--no-direct: never)"
        )
