"""Every endpoint of natster's micro services, one table per service.

An endpoint is defined here once: its name, what it reads and answers (the models of
:mod:`natster.wire`), who may call it, and how it is served. The services register
their handlers against these tables (:func:`natster._service.add_endpoints` refuses a
table with a handler missing or extra), the client calls through them, the device
permissions follow ``callers``, and the tests check every one against docs/protocol.md
and hostile payloads. docs/protocol.md describes each; CONTRIBUTING.md says how to add one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from natster import limits, subjects, wire
from natster.errors import ProtocolError

R = TypeVar("R", bound=wire.Model)


class Service(Enum):
    """A natster micro service, by the account it answers in."""

    ACCOUNTS = "natster-accounts"  # the hub's account service ("accounts" account)
    GLOBAL = "natster-global"  # the global service ("global" account)
    CATALOG = "natster-catalog"  # a catalog server (each owner's serving account)


Callers = Literal[
    "invite holders",  # anyone with an invite, through the public `signup` account
    "device code holders",  # a short device code's words, through the `signup` account
    "sign-in pages",  # a browser signing in, through the `signin` account
    "members",  # any user of any member account, read-only devices too
    "writers",  # a member's users but its read-only devices (their JWTs deny it)
    "the account key",  # the machine holding the account key (every device's JWT denies it)
    "the hub",  # the hub's account service only (the handler checks the caller)
    "owner and shared",  # the catalog's owner, and the accounts it is shared with
]


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    """One endpoint: ``reply`` None means a small object docs/protocol.md spells out
    (``{"closed": true}``), or, with ``raw``, bytes that are not an envelope."""

    service: Service
    name: str
    request: type[wire.Request] | None  # None: the body is ignored
    reply: type[R] | None
    callers: Callers
    many: bool = False  # the reply is a list of ``reply``
    raw: bool = False  # answered in raw bytes (an error still comes as an envelope)
    concurrency: int = 0  # requests served at once (0: one at a time, in order)
    bulk: bool = False  # a catalog server answers it on its second connection
    subject: str = ""  # for one outside its service's subject space (signup)

    @property
    def micro_name(self) -> str:
        """Its name in the micro service's INFO and STATS (no dots there)."""
        return self.name.replace(".", "-")

    def listen(self, catalog: str = "") -> str:
        """What its service subscribes to (any caller, in token 1); ``catalog`` for a
        catalog server's."""
        if self.subject:
            return self.subject
        if self.service is Service.GLOBAL:
            return subjects.global_listen(self.name)
        if self.service is Service.ACCOUNTS:
            return subjects.accounts_listen(self.name)
        return subjects.catalog_listen(catalog, self.name)

    def local(self) -> str:
        """What a member account requests it on (not a catalog's: see ``CatalogRef``)."""
        if self.subject:
            return self.subject
        if self.service is Service.GLOBAL:
            return subjects.global_local(self.name)
        if self.service is Service.ACCOUNTS:
            return subjects.accounts_local(self.name)
        raise ValueError(f"{self.name} is a catalog's: it is asked on that catalog's subject")

    def parse(self, data: object, who: str = "the service") -> R:
        """Its reply's data, checked as a peer's answer is (ProtocolError otherwise)."""
        if self.reply is None or self.many:
            raise TypeError(f"{self.name} has no single reply model")
        return wire.parse_reply(data, self.reply, who)

    def parse_many(self, data: object, who: str = "the service") -> list[R]:
        """Its reply's data, a list of ``reply``, each checked (ProtocolError otherwise)."""
        if self.reply is None or not self.many:
            raise TypeError(f"{self.name} has no list reply")
        if not isinstance(data, list):
            raise ProtocolError(f"{who} sent an answer natster refuses (not a list)")
        return [wire.parse_reply(row, self.reply, who) for row in data]


_ACCOUNTS, _GLOBAL, _CATALOG = Service.ACCOUNTS, Service.GLOBAL, Service.CATALOG

# --- the account service ---------------------------------------------------------------
SIGNUP = Endpoint(
    _ACCOUNTS,
    "signup",
    wire.SignupRequest,
    wire.SignupReply,
    "invite holders",
    subject=subjects.SIGNUP,
)
ACCOUNT_INFO = Endpoint(_ACCOUNTS, "info", None, wire.AccountInfo, "members")
ACCOUNT_UPDATE = Endpoint(
    _ACCOUNTS, "update", wire.AccountUpdateRequest, wire.AccountInfo, "writers"
)
IMPORTS_ADD = Endpoint(
    _ACCOUNTS, "imports.add", wire.ImportAddRequest, wire.ImportedCatalog, "writers"
)
IMPORTS_REMOVE: Endpoint[Any] = Endpoint(
    _ACCOUNTS, "imports.remove", wire.ImportRemoveRequest, None, "writers"
)
IMPORTS_REVOKE: Endpoint[Any] = Endpoint(
    _ACCOUNTS, "imports.revoke", wire.ImportRevokeRequest, None, "writers"
)
IMPORTS_RESTORE = Endpoint(
    _ACCOUNTS, "imports.restore", wire.ImportRestoreRequest, wire.ImportRestored, "writers"
)
DEVICES_CODE: Endpoint[Any] = Endpoint(
    _ACCOUNTS, "devices.code", wire.DeviceCodeAddRequest, None, "the account key"
)
DEVICE_CODE = Endpoint(
    _ACCOUNTS,
    "device.code",
    wire.DeviceCodeRequest,
    wire.DeviceCodeFetched,
    "device code holders",
    subject=subjects.DEVICE_CODE,
)
DEVICES_REVOKE: Endpoint[Any] = Endpoint(
    _ACCOUNTS, "devices.revoke", wire.DeviceRevokeRequest, None, "the account key"
)
SERVING = Endpoint(_ACCOUNTS, "serving", wire.ServingRequest, wire.ServingGrant, "writers")
ACCOUNT_LEAVE = Endpoint(_ACCOUNTS, "leave", wire.LeaveRequest, wire.LeaveReply, "the account key")
ACCOUNT_REMOVE = Endpoint(
    _ACCOUNTS, "remove", wire.AccountRemoveRequest, wire.LeaveReply, "the hub"
)

ACCOUNTS: tuple[Endpoint[Any], ...] = (
    SIGNUP,
    ACCOUNT_INFO,
    ACCOUNT_UPDATE,
    IMPORTS_ADD,
    IMPORTS_REMOVE,
    IMPORTS_REVOKE,
    IMPORTS_RESTORE,
    DEVICES_CODE,
    DEVICE_CODE,
    DEVICES_REVOKE,
    SERVING,
    ACCOUNT_LEAVE,
    ACCOUNT_REMOVE,
)

# --- the global service ----------------------------------------------------------------
EVENTS_PUT = Endpoint(_GLOBAL, "events.put", wire.EventsPutRequest, wire.EventsPutReply, "writers")
MY_SHARES = Endpoint(_GLOBAL, "my.shares", None, wire.ShareRow, "members", many=True)
WHOAMI = Endpoint(_GLOBAL, "whoami", None, wire.GlobalWhoami, "members")
STATS = Endpoint(_GLOBAL, "stats", None, wire.Stats, "members")
PEOPLE = Endpoint(_GLOBAL, "people", wire.PeopleRequest, wire.People, "members")
VALIDATE_NAME = Endpoint(
    _GLOBAL, "catalogs.validatename", wire.ValidateNameRequest, wire.ValidateNameReply, "members"
)
OTC_GENERATE = Endpoint(_GLOBAL, "otc.generate", None, wire.OtcCode, "members")
OTC_CLAIM = Endpoint(_GLOBAL, "otc.claim", wire.OtcClaimRequest, wire.OtcClaimed, "members")
HEARTBEAT = Endpoint(
    _GLOBAL, "heartbeats.put", wire.HeartbeatRequest, wire.HeartbeatReply, "writers"
)
SHARES_CHECK = Endpoint(_GLOBAL, "shares.check", wire.ShareCheckRequest, wire.ShareCheck, "the hub")
SIGNIN_OFFER = Endpoint(_GLOBAL, "signin.offer", wire.SigninOffer, wire.SigninCode, "sign-in pages")
SIGNIN_WAIT = Endpoint(
    _GLOBAL, "signin.wait", wire.SigninCodeRequest, wire.SigninWaiting, "sign-in pages"
)
SIGNIN_TAKE = Endpoint(_GLOBAL, "signin.take", wire.SigninCodeRequest, wire.SigninTaken, "members")
SIGNIN_GRANT: Endpoint[Any] = Endpoint(
    _GLOBAL, "signin.grant", wire.SigninGrantRequest, None, "members"
)

GLOBAL: tuple[Endpoint[Any], ...] = (
    EVENTS_PUT,
    MY_SHARES,
    WHOAMI,
    STATS,
    PEOPLE,
    VALIDATE_NAME,
    OTC_GENERATE,
    OTC_CLAIM,
    HEARTBEAT,
    SHARES_CHECK,
    SIGNIN_OFFER,
    SIGNIN_WAIT,
    SIGNIN_TAKE,
    SIGNIN_GRANT,
)

# --- a catalog server ------------------------------------------------------------------
_SHARED: Callers = "owner and shared"
SUMMARY = Endpoint(_CATALOG, "summary", None, wire.CatalogSummary, _SHARED)
CONTENTS = Endpoint(_CATALOG, "contents", wire.ContentsRequest, wire.ContentsPage, _SHARED)
FOLDER = Endpoint(_CATALOG, "folder", wire.FolderRequest, wire.FolderPage, _SHARED)
SEARCH = Endpoint(_CATALOG, "search", wire.ContentsRequest, wire.ContentsPage, _SHARED)
THUMBNAIL = Endpoint(
    _CATALOG,
    "thumbnail",
    wire.ThumbnailRequest,
    wire.Thumbnail,
    _SHARED,
    concurrency=limits.THUMBS_AT_ONCE,
)
TRANSFER_OPEN = Endpoint(
    _CATALOG, "transfer-open", wire.TransferOpenRequest, wire.TransferOpened, _SHARED
)
TRANSFER_CHUNK: Endpoint[Any] = Endpoint(
    _CATALOG,
    "transfer-chunk",
    wire.TransferChunkRequest,
    None,
    _SHARED,
    raw=True,
    concurrency=limits.CHUNKS_AT_ONCE,
    bulk=True,
)
TRANSFER_CLOSE: Endpoint[Any] = Endpoint(
    _CATALOG, "transfer-close", wire.TransferCloseRequest, None, _SHARED
)

# a way to read an open transfer from the owner's machine (services/direct)
TRANSFER_DIRECT = Endpoint(
    _CATALOG, "transfer-direct", wire.TransferDirectRequest, wire.DirectOffer, _SHARED
)
CATALOG: tuple[Endpoint[Any], ...] = (
    SUMMARY,
    CONTENTS,
    FOLDER,
    SEARCH,
    THUMBNAIL,
    TRANSFER_OPEN,
    TRANSFER_CHUNK,
    TRANSFER_CLOSE,
    TRANSFER_DIRECT,
)

ALL: tuple[Endpoint[Any], ...] = ACCOUNTS + GLOBAL + CATALOG


def called_by(callers: Callers) -> list[Endpoint[Any]]:
    """The endpoints only ``callers`` may call (of the account and global services)."""
    return [e for e in ACCOUNTS + GLOBAL if e.callers == callers]
