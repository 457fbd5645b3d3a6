"""``natster autostart``: `natster serve` started at login and kept running.

On Linux a systemd user unit (``~/.config/systemd/user/``, or ``$XDG_CONFIG_HOME``'s),
started now and at login, restarted on failure, its output in the journal
(``journalctl --user -u NAME``); on macOS a launchd agent
(``~/Library/LaunchAgents/``) that launchd keeps alive. One per ``$NATSTER_HOME``: the
default home's is ``natster-serve``, another's carries a hash of its path.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from natster._fs import natster_home, write_atomic
from natster.errors import ConfigError

from .context import Home

__all__ = ["Autostart"]

SYSTEMCTL_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Autostart:
    home: Home
    system: str = platform.system()  # "Linux", "Darwin"

    @property
    def name(self) -> str:
        """The unit's (or agent's) name: one per home."""
        if self.home.path.resolve() == natster_home().resolve():
            return "natster-serve"
        digest = hashlib.sha256(str(self.home.path.resolve()).encode()).hexdigest()[:8]
        return f"natster-serve-{digest}"

    @property
    def path(self) -> Path:
        if self.system == "Darwin":
            return Path.home() / "Library" / "LaunchAgents" / f"org.natster.{self.name}.plist"
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config) / "systemd" / "user" / f"{self.name}.service"

    def command(self) -> list[str]:
        """What the unit runs: this natster's Python, serving every catalog of the home."""
        return [sys.executable, "-m", "natster", "serve"]

    def text(self) -> str:
        if self.system == "Darwin":
            return _plist(self.name, self.command(), self.home.path)
        return _unit(self.command(), self.home.path)

    def on(self) -> str:
        """Write the unit and have it started now and at login; what was done."""
        self.home.load()  # an account to serve with, or say so now
        write_atomic(self.path, self.text())
        if self.system == "Darwin":
            _run(["launchctl", "load", "-w", str(self.path)], self.path)
        else:
            _run(["systemctl", "--user", "daemon-reload"], self.path)
            _run(["systemctl", "--user", "enable", "--now", f"{self.name}.service"], self.path)
        return f"{self.name} serves your catalogs now and at every login ({self.path})"

    def off(self) -> str:
        if not self.path.exists():
            return "autostart was off"
        if self.system == "Darwin":
            _run(["launchctl", "unload", "-w", str(self.path)], self.path)
        else:
            _run(["systemctl", "--user", "disable", "--now", f"{self.name}.service"], self.path)
        self.path.unlink()
        if self.system != "Darwin":
            _run(["systemctl", "--user", "daemon-reload"], self.path)
        return f"{self.name} stopped, and no longer starts at login"

    def status(self) -> dict[str, object]:
        """Whether it is set up, whether it runs, and since when."""
        facts: dict[str, object] = {"name": self.name, "file": str(self.path)}
        facts["installed"] = self.path.exists()
        if self.system == "Darwin" or not facts["installed"]:
            facts.update(running=None, since=None)
            return facts
        asked = ["-p", "ActiveState", "-p", "ActiveEnterTimestamp"]
        shown = _run(["systemctl", "--user", "show", f"{self.name}.service", *asked], self.path)
        values = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        facts["running"] = values.get("ActiveState") == "active"
        facts["since"] = values.get("ActiveEnterTimestamp") or None
        return facts


def _unit(command: list[str], home: Path) -> str:
    return "\n".join(
        [
            "# Written by `natster autostart on`; `natster autostart off` removes it.",
            "[Unit]",
            "Description=natster: serve my catalogs",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"Environment={_quoted('NATSTER_HOME=' + str(home))}",
            f"ExecStart={shlex.join(command)}",
            "Restart=on-failure",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def _quoted(value: str) -> str:
    """A systemd value in double quotes (a home with spaces in its path)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plist(name: str, command: list[str], home: Path) -> str:
    arguments = "".join(f"<string>{escape(a)}</string>" for a in command)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0"><dict>\n'
        f"<key>Label</key><string>org.natster.{escape(name)}</string>\n"
        f"<key>ProgramArguments</key><array>{arguments}</array>\n"
        "<key>EnvironmentVariables</key><dict><key>NATSTER_HOME</key>"
        f"<string>{escape(str(home))}</string></dict>\n"
        "<key>RunAtLoad</key><true/>\n"
        "<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>\n"
        "</dict></plist>\n"
    )


def _run(command: list[str], unit: Path) -> str:
    """A systemctl (or launchctl) command's output, or a ConfigError saying what to do."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"{unit} is written, but `{' '.join(command)}` could not run ({exc}): "
            "run it yourself in your desktop session"
        ) from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigError(
            f"`{' '.join(command)}` failed ({said[-1] if said else done.returncode}): "
            f"{unit} is written; run the command in your desktop session"
        )
    return done.stdout
