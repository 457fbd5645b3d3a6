"""Directories carry a format: a newer natster brings an older one up to date and says
so; an older natster meeting a newer one refuses in words. The older directories are
made here as natster 0.1 made them (its files had no format)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from natster._formats import HOME_FORMAT, HUB_FORMAT
from natster.client import Home, NatsterClient
from natster.errors import ConfigError
from natster.services.platform import Platform

from .conftest import JoinUser, free_port


def _as_made_by_0_1(path: Path) -> None:
    """The file as natster 0.1 wrote it: the same, with no format."""
    body = json.loads(path.read_text())
    body.pop("format", None)
    path.write_text(json.dumps(body, indent=2))


def _from_the_future(path: Path) -> None:
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "format": 99, "a_field_of_tomorrow": True}))


async def test_a_home_of_0_1_is_brought_up_to_date_and_one_of_tomorrow_refused(
    hub: object, join_user: JoinUser, caplog: pytest.LogCaptureFixture
) -> None:
    home = await join_user("alice")
    assert json.loads(home.context_file.read_text())["format"] == HOME_FORMAT
    _as_made_by_0_1(home.context_file)
    with caplog.at_level(logging.WARNING):
        client = await NatsterClient.connect(home)
    await client.close()
    assert json.loads(home.context_file.read_text())["format"] == HOME_FORMAT
    assert "made by natster 0.1 (format 1): now format 2" in caplog.text
    caplog.clear()
    Home(home.path).load()  # said once: up to date now
    assert "natster 0.1" not in caplog.text
    _from_the_future(home.context_file)
    with pytest.raises(ConfigError, match="written by a newer natster \\(format 99"):
        Home(home.path).load()


async def test_a_hub_directory_of_0_1_is_brought_up_to_date_and_one_of_tomorrow_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    first = Platform(tmp_path / "hub", port=port)
    await first.start()
    await first.stop()
    config = tmp_path / "hub" / "hub.json"
    assert json.loads(config.read_text())["format"] == HUB_FORMAT
    _as_made_by_0_1(config)
    with caplog.at_level(logging.WARNING):
        again = Platform(tmp_path / "hub", port=port)
        await again.start()
        await again.stop()
    assert json.loads(config.read_text())["format"] == HUB_FORMAT
    assert "was made by natster 0.1 (format 1): now format 2" in caplog.text
    _from_the_future(config)
    with pytest.raises(ConfigError, match="written by a newer natster"):
        await Platform(tmp_path / "hub", port=port).start()
