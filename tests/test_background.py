"""Catalogs served in the background: `natster serve` (every catalog, those made later
too), `natster autostart` (a systemd user unit, checked as written and by
systemd-analyze, its command line run for real) and `natster hub service --print`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from natster._net import is_loopback, lan_address
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient
from natster.client.autostart import Autostart
from natster.client.serve_all import serve_every_catalog
from natster.errors import ConfigError

from .cliworld import hub_process, member
from .conftest import eventually, natster

pytestmark = pytest.mark.heavy
__all__ = ["hub_process"]  # a fixture


async def test_every_catalog_is_served_those_made_later_too(
    alice: NatsterClient, tmp_path: Path
) -> None:
    said: list[tuple[str, ...]] = []
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_every_catalog(alice, stop, said.append, recheck_s=0.1))
    try:
        await eventually(lambda: _true(said == [()]), 5, "nothing to serve, said so")
        for count, name in enumerate(("a", "b"), start=1):
            (tmp_path / name).mkdir()
            with Catalogs(alice.home.path) as mine:
                mine.new(name, "", tmp_path / name)

            async def online(count: int = count) -> bool:
                return (await alice.stats()).catalogs_online == count

            await eventually(online, 10, f"{name} is served")
        with Catalogs(alice.home.path) as mine:
            mine.remove("a")

        async def only_b() -> bool:
            return said[-1] == ("b",) and (await alice.stats()).catalogs_online == 1

        await eventually(only_b, 20, "a is served no more")  # its heartbeat's TTL ends
    finally:
        stop.set()
        await serving
    assert said[:2] == [(), ("a",)]


async def _true(value: bool) -> bool:
    return value


def _fake_systemctl(bin_dir: Path, log: Path) -> None:
    """A systemctl that notes how it was called and says the unit runs."""
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {shlex.quote(str(log))}\n'
        'case "$*" in *show*) echo ActiveState=active;'
        " echo 'ActiveEnterTimestamp=Mon 2026-12-07 10:00:00 UTC';; esac\n"
    )
    script.chmod(0o755)


def test_autostart_writes_a_user_unit_that_serves_and_removes_it(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    home = member(hub_process[0], tmp_path, "alice")
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.txt").write_text("a")
    assert natster("catalog", "new", "films", "mine", str(media), home=home).returncode == 0
    log = tmp_path / "systemctl.log"
    _fake_systemctl(tmp_path / "bin", log)
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    done = natster("autostart", "on", home=home, env=env)
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "natster-serve.service"
    assert "serves your catalogs now and at every login" in done.stdout
    text = unit.read_text()
    assert "Restart=on-failure" in text
    assert "WantedBy=default.target" in text
    assert f'Environment="NATSTER_HOME={home}"' in text
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now natster-serve.service",
    ]
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verified.returncode == 0, verified.stderr
    status = json.loads(natster("autostart", "status", "--json", home=home, env=env).stdout)
    assert (status["installed"], status["running"]) == (True, True)
    assert status["since"] == "Mon 2026-12-07 10:00:00 UTC"

    # the unit's command line, run for real as systemd would: it serves, Ctrl-C stops it
    command = shlex.split(
        next(line for line in text.splitlines() if line.startswith("ExecStart="))[10:]
    )
    served = subprocess.Popen(
        command,
        env={**os.environ, "NATSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert served.stdout is not None
        assert served.stdout.readline().strip() == "serving films (Ctrl-C stops)"
    finally:
        served.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            served.wait(timeout=15)
    assert served.returncode == 0
    said = served.stdout.read().splitlines()  # and where transfers can come straight from
    direct = [line for line in said if line.startswith("direct transfers from ")]
    assert len(direct) == (0 if is_loopback(lan_address()) else 1), said

    off = natster("autostart", "off", home=home, env=env)
    assert off.returncode == 0, off.stderr
    assert not unit.exists()
    assert "--user disable --now natster-serve.service" in log.read_text()
    gone = json.loads(natster("autostart", "status", "--json", home=home, env=env).stdout)
    assert gone["installed"] is False


def test_autostart_without_systemd_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path / "h")
    unit = Autostart(home, system="Linux")
    assert unit.name.startswith("natster-serve-")  # not the default home: a name of its own
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    unit.path.parent.mkdir(parents=True)
    unit.path.write_text(unit.text())
    with pytest.raises(ConfigError, match=r"Failed to connect to bus.*desktop session"):
        unit.off()
    darwin = Autostart(home, system="Darwin").text()  # a launchd agent, kept alive
    assert "<key>KeepAlive</key>" in darwin
    assert f"<string>{home.path}</string>" in darwin


def test_hub_service_prints_a_hardened_system_unit(tmp_path: Path) -> None:
    printed = natster("hub", "service", "--dir", str(tmp_path / "hub"), "--print")
    assert printed.returncode == 0, printed.stderr
    text = printed.stdout
    for line in (
        "User=natster",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={(tmp_path / 'hub').resolve()}",
        "WantedBy=multi-user.target",
    ):
        assert line in text.splitlines(), line
    if shutil.which("systemd-analyze"):
        unit = tmp_path / "natster-hub.service"
        unit.write_text(text)
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verified.returncode == 0, verified.stderr
    refused = natster("hub", "service", "--dir", str(tmp_path / "hub"))
    assert refused.returncode == 1
    assert "--print" in refused.stderr
