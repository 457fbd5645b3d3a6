"""The natster command as people run it, for tests: a hub process, members, serving."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import warm_cli
from .conftest import NATSTER, free_port, natster


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    hub_dir = tmp_path / "hub"
    welcome = tmp_path / "welcome"
    welcome.mkdir()
    (welcome / "hello.txt").write_text("welcome")
    proc = warm_cli.Popen(
        [
            *NATSTER,
            "hub",
            "up",
            "--dir",
            str(hub_dir),
            "--port",
            str(free_port()),
            "--catalog",
            str(welcome),
        ],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "hub.err").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # ends if the process dies
        if line.startswith("invite someone"):  # printed once everything runs
            break
    else:
        proc.kill()
        pytest.fail(f"hub did not start: {proc.communicate()}")
    try:
        yield hub_dir, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def member(hub_dir: Path, tmp_path: Path, name: str = "alice") -> Path:
    """A NATSTER_HOME for ``name``, joined to the hub in ``hub_dir``."""
    home = tmp_path / name
    invite = natster("hub", "invite", "--dir", str(hub_dir)).stdout.strip().splitlines()[-1]
    joined = natster("init", "--invite", invite, "--name", name, home=home)
    assert joined.returncode == 0, joined.stderr
    return home


@contextlib.contextmanager
def serving(home: Path, *names: str, options: tuple[str, ...] = ()) -> Iterator[None]:
    """`natster catalog serve NAMES... OPTIONS...` in the background, until the block ends."""
    server = warm_cli.Popen(
        [*NATSTER, "catalog", "serve", *names, *options],
        env={**os.environ, "NATSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "serving" in server.stdout.readline()
        yield
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=15)
