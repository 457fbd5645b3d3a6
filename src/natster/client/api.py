"""The typed async API over NATS that the CLI and the web UI both call."""

from __future__ import annotations

from types import TracebackType

from natster import _nats, subjects, wire
from natster._nats import Client

from .context import Context, Home

ACCOUNT_SERVICE = "the hub's account service"


async def account_info(nc: Client) -> wire.AccountInfo:
    """What the hub knows of the account ``nc`` is connected as."""
    data = await _nats.request(nc, subjects.accounts_local("info"), b"{}", what=ACCOUNT_SERVICE)
    return wire.AccountInfo.model_validate(data)


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
        return await account_info(self._nc)

    async def update_account(self, name: str | None = None) -> wire.AccountInfo:
        """Ask the hub to bring my account JWT up to its standard (and rename me)."""
        request = wire.AccountUpdateRequest(name=name)
        data = await _nats.request(
            self._nc,
            subjects.accounts_local("update"),
            request.model_dump_json(exclude_none=True).encode(),
            what=ACCOUNT_SERVICE,
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
