"""The hub: start, restart, state on disk, status, the binary lookup."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from natster.client import Home, NatsterClient, join
from natster.errors import HubAlreadyRunning, HubError, HubNotRunning, NatsServerNotFound
from natster.hub import Hub, HubDir, find_nats_server, mint_invite
from natster.security import jwt

from .conftest import JoinUser, RunningHub, free_port


async def test_starts_fast_and_restarts_with_the_same_accounts(tmp_path: Path) -> None:
    path, port = tmp_path / "hub", free_port()
    began = time.monotonic()
    first = Hub(path, port=port)
    info = await first.start()
    elapsed = time.monotonic() - began
    try:
        assert elapsed < 5, f"hub took {elapsed:.1f} s to start from nothing"
        assert info.created
        home = Home(tmp_path / "alice")
        invite = (await mint_invite(HubDir(path), 600)).encode()
        context = await join(invite, home=home, name="alice")
    finally:
        await first.stop()
    assert not (path / "run.json").exists()

    second = Hub(path)  # port and host come from hub.json
    again = await second.start()
    try:
        assert not again.created
        assert again.operator == info.operator
        assert again.url == info.url
        async with await NatsterClient.connect(home) as client:
            assert (await client.account_info()).account == context.account
    finally:
        await second.stop()


async def test_second_hub_on_one_dir_is_refused(hub: RunningHub) -> None:
    with pytest.raises(HubAlreadyRunning):
        await Hub(hub.dir.path, port=free_port()).start()
    assert hub.dir.run_state() is not None  # the running hub is untouched


async def test_secrets_are_private(hub: RunningHub) -> None:
    keys = hub.dir.keys
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    public = (
        hub.dir.config_file.read_text()
        + hub.dir.server_conf.read_text()
        + (hub.dir.path / "nats.log").read_text()
    )
    for path in keys.glob("*.nk"):
        assert path.read_text().strip() not in public


async def test_platform_accounts_are_on_the_server(hub: RunningHub) -> None:
    resolver = hub.hub.resolver
    assert resolver is not None
    config = hub.dir.load()
    for role in ("accounts", "global", "signup", "hub"):
        claims = await resolver.lookup(config.accounts[role])
        assert claims is not None, role
        assert claims.iss == config.signing_key
    accounts = await resolver.lookup(config.accounts["accounts"])
    assert accounts is not None
    positions = {e.subject: e.account_token_position for e in accounts.nats.exports}
    assert positions["*.natster.accounts.>"] == 1


async def test_edit_pushes_a_newer_jwt_and_reads_it_back(
    hub: RunningHub, join_user: JoinUser
) -> None:
    home = await join_user("alice")
    account = home.load().account
    resolver = hub.hub.resolver
    assert resolver is not None
    before = await resolver.lookup(account)
    assert before is not None

    def describe(claims: jwt.AccountClaims) -> jwt.AccountClaims:
        claims.nats.description = "edited"
        return claims

    after = await resolver.edit(account, describe)
    assert after.iat > before.iat
    held = await resolver.lookup(account)
    assert held is not None
    assert held.nats.description == "edited"


async def test_status(hub: RunningHub, join_user: JoinUser) -> None:
    await join_user("alice")
    facts = hub.dir.describe()
    assert facts["running"] is True
    assert facts["accounts"] == 1
    assert facts["url"] == hub.info.url
    assert isinstance(facts["uptime_s"], int)


async def test_invite_needs_a_running_hub(tmp_path: Path) -> None:
    path = tmp_path / "hub"
    HubDir(path).create("127.0.0.1", free_port())
    with pytest.raises(HubNotRunning, match="natster hub up"):
        await mint_invite(HubDir(path), 600)


def test_nats_server_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_nats_server().name == "nats-server"
    monkeypatch.setenv("NATSTER_NATS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(NatsServerNotFound, match="NATSTER_NATS_SERVER"):
        find_nats_server()
    with pytest.raises(NatsServerNotFound, match="--nats-server"):
        find_nats_server(tmp_path / "also-nope")
    monkeypatch.delenv("NATSTER_NATS_SERVER")
    monkeypatch.setattr("sysconfig.get_path", lambda _: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsServerNotFound) as raised:
        find_nats_server()
    assert "NATSTER_NATS_SERVER" in str(raised.value)
    assert "--nats-server" in str(raised.value)


def test_platform_jetstream_reservations_fit_the_server() -> None:
    """nats-server refuses JetStream to an account whose limits exceed what is left."""
    from natster import limits
    from natster.hub.accounts.claims import accounts_account, global_account

    key = "A" * 56
    platform = [accounts_account(key, global_=key).nats.limits, global_account(key).nats.limits]
    assert sum(p.mem_storage for p in platform) <= limits.HUB_JETSTREAM_MAX_MEM
    assert sum(p.disk_storage for p in platform) <= limits.HUB_JETSTREAM_MAX_FILE


async def test_jetstream_works_in_the_platform_accounts(hub: RunningHub) -> None:
    from natster import _nats

    for role in ("accounts", "global"):
        nc = await _nats.connect(
            hub.info.local_url, hub.dir.creds(role), trust=hub.dir.trust(), name="t"
        )
        try:
            info = await nc.jetstream().account_info()
            assert info.limits.max_memory > 0, role
        finally:
            await nc.close()


async def test_an_older_nats_server_is_named_as_the_cause(tmp_path: Path) -> None:
    """A nats-server older than the config natster writes (one from a distribution, say)
    stops at its first unknown field: `hub up` says which version it needs."""
    old = tmp_path / "nats-server"
    old.write_text(
        '#!/bin/sh\necho "nats-server: $2:9:1: unknown field \\"default_sentinel\\"" >&2\nexit 1\n'
    )
    old.chmod(0o755)
    with pytest.raises(HubError, match=r"unknown field .*nats-server 2\.11\.2 or later"):
        await Hub(tmp_path / "hub", port=free_port(), nats_server=str(old)).start()
