"""The typed async API over NATS that the CLI and the web UI both call."""

from __future__ import annotations

from types import TracebackType

from natster import _nats, subjects, wire
from natster._nats import Client

from .context import Context, Home


class NatsterClient:
    """A connection to the hub as this machine's user."""

    def __init__(self, home: Home, context: Context, nc: Client) -> None:
        self.home = home
        self.context = context
        self._nc = nc

    @classmethod
    async def connect(cls, home: Home | None = None) -> NatsterClient:
        home = home or Home.default()
        context = home.load()
        nc = await _nats.connect(context.url, home.creds(), name=f"natster-{context.name}")
        return cls(home, context, nc)

    async def close(self) -> None:
        await self._nc.close()

    async def __aenter__(self) -> NatsterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def nats(self) -> Client:
        return self._nc

    async def account_info(self) -> wire.AccountInfo:
        data = await _nats.request(
            self._nc, subjects.accounts_local("info"), b"{}", what="the hub's account service"
        )
        return wire.AccountInfo.model_validate(data)


def whoami(home: Home | None = None) -> dict[str, str]:
    """Who this machine is, from local state alone (works with the hub down)."""
    home = home or Home.default()
    context = home.load()
    return {
        "account": context.account,
        "name": context.name,
        "url": context.url,
        "user": context.user,
        "creds": str(home.creds_file),
        "initialized_at": context.initialized_at,
    }
