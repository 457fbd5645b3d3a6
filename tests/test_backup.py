"""A hub backed up, its directory destroyed, restored elsewhere: people reconnect with
the credentials they had, and everything they had is there."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.errors import ConfigError
from natster.hub import mint_short_invite
from natster.hub.backup import backup, restore
from natster.services.platform import Platform

from .cliworld import hub_process, member, one_line_error
from .conftest import add_device, free_port, key, natster

pytestmark = pytest.mark.heavy
__all__ = ["hub_process"]  # a fixture


async def test_a_hub_comes_back_from_its_backup(tmp_path: Path) -> None:
    port = free_port()
    first = Platform(tmp_path / "hub", port=port)
    await first.start()
    homes = {}
    for name in ("alice", "bob"):
        homes[name] = Home(tmp_path / name)
        await join((await mint_short_invite(first.dir, 600)).encode(), home=homes[name], name=name)
    alice = await NatsterClient.connect(homes["alice"])
    bob = await NatsterClient.connect(homes["bob"])
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.txt").write_text("a")
    with Catalogs(alice.home.path) as mine:
        mine.new("films", "", media)
    await remote.share(alice, "films", key(bob))
    await remote.import_catalog(bob, "films", key(alice))
    await add_device(alice, Home(tmp_path / "phone"))
    for client in (alice, bob):
        await client.close()

    made = await backup(first.dir, tmp_path / "backups" / "hub.tgz")
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600  # it holds the hub's keys
    assert made.streams >= 5  # the event log and every bucket
    await first.stop()
    shutil.rmtree(tmp_path / "hub")  # the machine is lost

    with pytest.raises(ConfigError, match="not empty"):
        restore(made.path, tmp_path)
    restore(made.path, tmp_path / "elsewhere")
    second = Platform(tmp_path / "elsewhere", port=port)  # where people's contexts point
    await second.start()
    try:
        alice = await NatsterClient.connect(homes["alice"])  # the credentials they had
        bob = await NatsterClient.connect(homes["bob"])
        phone = await NatsterClient.connect(Home(tmp_path / "phone"))
        try:
            assert (await phone.global_whoami()).name == "alice"
            assert [c.catalog for c in (await bob.account_info()).catalogs] == ["films"]
            rows = await bob.my_shares()
            assert [
                (r.catalog, r.owner_name, r.imported) for r in rows if r.owner == key(alice)
            ] == [("films", "alice", True)]
            assert (await bob.stats()).accounts == 2
            with pytest.raises(Exception, match="taken"):  # names are still held
                await join(
                    (await mint_short_invite(second.dir, 600)).encode(),
                    home=Home(tmp_path / "other"),
                    name="alice",
                )
        finally:
            for client in (alice, bob, phone):
                await client.close()
    finally:
        await second.stop()


def test_backup_and_restore_from_the_cli(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir = hub_process[0]
    member(hub_dir, tmp_path, "dora")
    archive = tmp_path / "hub.tgz"
    made = natster("hub", "backup", str(archive), "--dir", str(hub_dir))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed up to {archive} (")
    done = natster("hub", "restore", str(archive), "--dir", str(tmp_path / "new"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "hub.json").exists()
    (tmp_path / "junk.tgz").write_bytes(b"not a backup")
    refused = natster("hub", "restore", str(tmp_path / "junk.tgz"), "--dir", str(tmp_path / "x"))
    assert refused.returncode == 1
    assert "not a whole natster hub backup" in refused.stderr
    assert not (tmp_path / "x").exists()

    sealed = tmp_path / "hub.sealed"  # with a passphrase: from a file, or stdin
    made = natster(
        "hub",
        "backup",
        str(sealed),
        "--dir",
        str(hub_dir),
        "--passphrase-file",
        "-",
        input="a long passphrase\n",
    )
    assert made.returncode == 0, made.stderr
    assert "keep it and the passphrase apart" in made.stdout
    assert b"dora" not in sealed.read_bytes()
    asked = natster("hub", "restore", str(sealed), "--dir", str(tmp_path / "s1"))
    assert one_line_error(asked) == (
        "error: no terminal to ask the passphrase on: pass --passphrase-file"
    )
    wrong = natster(
        "hub",
        "restore",
        str(sealed),
        "--dir",
        str(tmp_path / "s2"),
        "--passphrase-file",
        "-",
        input="the wrong passphrase\n",
    )
    assert "that passphrase does not open it" in one_line_error(wrong)
    assert not (tmp_path / "s2").exists()
    right = natster(
        "hub",
        "restore",
        str(sealed),
        "--dir",
        str(tmp_path / "s3"),
        "--passphrase-file",
        "-",
        input="a long passphrase\n",
    )
    assert right.returncode == 0, right.stderr
    restored, plain = (json.loads((tmp_path / d / "hub.json").read_text()) for d in ("s3", "new"))
    assert (restored["operator"], restored["accounts"]) == (plain["operator"], plain["accounts"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s3.")) == []
