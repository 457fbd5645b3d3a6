"""A person's account, recovered: the laptop is lost (its NATSTER_HOME gone), the
recovery file and its passphrase bring the account back elsewhere, its imports with it,
and the lost machine is a device to revoke."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, remote
from natster.client.devices import list_devices, revoke_device
from natster.client.recovery import LOST, restore_recovery, write_recovery
from natster.errors import ConfigError, CryptoError

from .cliworld import hub_process, member
from .conftest import JoinUser, RunningHub, add_device, connects, eventually, key, natster

pytestmark = pytest.mark.heavy
__all__ = ["hub_process"]  # a fixture
WORDS = "correct horse battery staple"


async def test_a_lost_laptops_account_comes_back_and_the_laptop_is_cut_off(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path
) -> None:
    laptop = await join_user("alice")
    alice = await NatsterClient.connect(laptop)
    bob = await NatsterClient.connect(await join_user("bob"))
    (tmp_path / "pics").mkdir()
    with Catalogs(bob.home.path) as mine:
        mine.new("pics", "", tmp_path / "pics")
    await remote.share(bob, "pics", key(alice))
    await remote.import_catalog(alice, "pics", key(bob))
    await add_device(alice, Home(tmp_path / "phone"))
    with pytest.raises(ConfigError, match="10 characters"):
        write_recovery(laptop, tmp_path / "alice.recovery", "short")
    sealed = write_recovery(laptop, tmp_path / "alice.recovery", WORDS)
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert laptop.account_key().seed.encode() not in sealed.read_bytes()  # sealed
    old = laptop.creds()
    await alice.close()
    shutil.rmtree(laptop.path)  # the laptop is lost

    again = Home(tmp_path / "new-laptop")
    with pytest.raises(CryptoError, match="passphrase"):
        await restore_recovery(again, sealed, "not the passphrase")
    assert not again.initialized()
    context = await restore_recovery(again, sealed, WORDS)
    assert context.name == "alice"
    assert context.user != old.public_key  # a user key of its own
    restored = await NatsterClient.connect(again)
    try:
        assert [c.catalog for c in (await restored.account_info()).catalogs] == ["pics"]
        names = {d.name for d in await list_devices(restored)}
        assert names >= {"phone", LOST}
        assert await connects(hub, old)  # until it is revoked...
        began = time.monotonic()
        await revoke_device(restored, LOST)

        async def cut() -> bool:
            return not await connects(hub, old)

        await eventually(cut, 2 - (time.monotonic() - began), "the lost laptop is cut off")
        assert (await restored.global_whoami()).name == "alice"  # ...and the new one is not
    finally:
        await restored.close()
        await bob.close()


def test_backup_and_init_restore_from_the_cli(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    home = member(hub_process[0], tmp_path, "dora")
    secret = tmp_path / "passphrase"
    secret.write_text(WORDS + "\n")
    written = natster(
        "backup", str(tmp_path / "dora.recovery"), "--passphrase-file", str(secret), home=home
    )
    assert written.returncode == 0, written.stderr
    new = tmp_path / "dora2"
    back = natster(
        "init",
        "--restore",
        str(tmp_path / "dora.recovery"),
        "--passphrase-file",
        "-",
        home=new,
        input=WORDS,
    )
    assert back.returncode == 0, back.stderr
    assert "welcome back, dora" in back.stdout
    assert natster("whoami", home=new).returncode == 0
    refused = natster("backup", str(tmp_path / "x"), home=new)  # no terminal, no file
    assert refused.returncode == 1
    assert "--passphrase-file" in refused.stderr
