"""Event schemas: CloudEvents 1.0 for the event log, and the live feed's messages.

Every state change of the platform is one of the events below, stored in the
``NATSTER_EVENTS`` JetStream stream on ``natster.events.<kind>.<origin account>``.
The origin is the account NATS put in the request's first subject token, never a
field the caller fills in. Projections are rebuilt from these events alone.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from natster import limits, subjects
from natster._clock import now_iso
from natster.names import CATALOG_PATTERN
from natster.wire import AccountField, CatalogField

SPEC_VERSION: Literal["1.0"] = "1.0"
STREAM = subjects.EVENTS_STREAM
SUBJECT_PREFIX = subjects.EVENTS_PREFIX

ACCOUNT_INITIALIZED = "natster.account.initialized"
CATALOG_SHARED = "natster.catalog.shared"
CATALOG_UNSHARED = "natster.catalog.unshared"
CATALOG_IMPORTED = "natster.catalog.imported"
CONTEXT_BOUND = "natster.context.bound"
CATALOG_DECLINED = "natster.catalog.declined"
ACCOUNT_BLOCKED = "natster.account.blocked"
ACCOUNT_UNBLOCKED = "natster.account.unblocked"
CATALOG_FORGOTTEN = "natster.catalog.forgotten"
ACCOUNT_LEFT = "natster.account.left"

EventType = Literal[
    "natster.account.initialized",
    "natster.catalog.shared",
    "natster.catalog.unshared",
    "natster.catalog.imported",
    "natster.context.bound",
    "natster.catalog.declined",
    "natster.account.blocked",
    "natster.account.unblocked",
    "natster.catalog.forgotten",
    "natster.account.left",
]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


AccountKey = AccountField
CatalogName = CatalogField


class AccountInitialized(_Data):
    account: str = AccountKey
    name: str = Field(min_length=1, max_length=limits.MAX_ACCOUNT_NAME)


class CatalogShared(_Data):
    owner: str = AccountKey
    catalog: str = CatalogName
    target: str = AccountKey


class CatalogUnshared(CatalogShared):
    pass


class CatalogImported(_Data):
    owner: str = AccountKey
    catalog: str = CatalogName
    importer: str = AccountKey
    # the importer's name for it (restored by a share after an unshare); older: absent
    alias: str | None = Field(
        default=None, min_length=1, max_length=limits.MAX_CATALOG_NAME, pattern=CATALOG_PATTERN
    )


class CatalogForgotten(CatalogImported):
    """The importer took the catalog out of their library (it is in their inbox again)."""


class CatalogDeclined(CatalogShared):
    """The target turned the share down (it ends, as an unshare would)."""


class AccountBlocked(_Data):
    """``account`` takes no more shares from ``other`` (unblocked: it does again)."""

    account: str = AccountKey
    other: str = AccountKey


class ShareEnded(_Data):
    owner: str = AccountKey
    catalog: str = CatalogName
    target: str = AccountKey


class AccountLeft(_Data):
    """``account`` left the hub: its name is free, and every share it gave or was given
    (``shares``, as the log held them when it left) ended with it. Written by the hub's
    account service alone; the event carries what it ended, so a replay ends the same."""

    account: str = AccountKey
    shares: list[ShareEnded] = Field(default_factory=list, max_length=limits.LEAVE_SHARES_MAX)
    removed: bool = False  # by the hub's owner (`hub remove`), not by itself


class ContextBound(_Data):
    account: str = AccountKey
    client: str = Field(max_length=128)


DATA: dict[str, type[_Data]] = {
    ACCOUNT_INITIALIZED: AccountInitialized,
    CATALOG_SHARED: CatalogShared,
    CATALOG_UNSHARED: CatalogUnshared,
    CATALOG_IMPORTED: CatalogImported,
    CONTEXT_BOUND: ContextBound,
    CATALOG_DECLINED: CatalogDeclined,
    ACCOUNT_BLOCKED: AccountBlocked,
    ACCOUNT_UNBLOCKED: AccountBlocked,
    CATALOG_FORGOTTEN: CatalogForgotten,
    ACCOUNT_LEFT: AccountLeft,
}


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in JSON (structured mode)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=128)
    type: EventType
    time: str
    subject: str = Field(max_length=256)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        """The last part of the type: the subject token (``shared``, ``imported``...)."""
        return self.type.rsplit(".", 1)[1]

    @property
    def origin(self) -> str:
        return self.source.rsplit("/", 1)[1]

    def typed(self) -> _Data:
        return DATA[self.type].model_validate(self.data)

    def stream_subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.kind}.{self.origin}"


class EventError(ValueError):
    """An event that does not fit its schema."""


def make_event(
    event_type: str, origin: str, data: _Data, subject: str, *, id: str | None = None
) -> CloudEvent:
    """A new event; ``id`` (default: a random one) is also its message id in the log,
    so an event written twice under one id is stored once."""
    if DATA.get(event_type) is not type(data):
        raise EventError(f"{event_type} does not carry {type(data).__name__}")
    return CloudEvent(
        id=id or uuid.uuid4().hex,
        source=f"natster://account/{origin}",
        type=event_type,  # type: ignore[arg-type]
        time=now_iso("milliseconds"),
        subject=subject,
        data=data.model_dump(),
    )


def parse_event(raw: bytes) -> CloudEvent:
    """Parse and fully validate a stored event (data included)."""
    try:
        event = CloudEvent.model_validate_json(raw)
        event.typed()
    except ValidationError as exc:
        raise EventError(str(exc.errors()[0]["msg"])) from exc
    return event


# --- the live feed ---------------------------------------------------------------------

FeedKind = Literal["online", "offline", "revision", "shared", "unshared"]


class FeedEvent(BaseModel):
    """What an account receives on ``natster.feed.<kind>`` (through its import)."""

    model_config = ConfigDict(defer_build=True)

    kind: FeedKind
    owner: str
    catalog: str
    revision: int | None = None
    target: str | None = None
    at: str
