"""Wire schemas: every request and reply body natster services exchange.

Every reply is an envelope ``{"code": 200|4xx|5xx, "error": str|null, "data": ...}``
as in the original Natster. Requests are validated strictly: unknown fields and wrong
types are refused with a 400, never half-understood.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from natster import limits
from natster.errors import NatsterError, ProtocolError, Refused, RemoteError
from natster.names import (
    ACCOUNT_PATTERN,
    CATALOG_PATTERN,
    HASH_PATTERN,
    TAG_PATTERN,
    TAKEN_PATTERN,
    TRANSFER_PATTERN,
    XKEY_PATTERN,
    check_description,
    check_relpath,
)

M = TypeVar("M", bound=BaseModel)


# Fields shared by requests and events: an account public key, a catalog name.
AccountField = Field(min_length=56, max_length=56, pattern=ACCOUNT_PATTERN)
CatalogField = Field(min_length=1, max_length=limits.MAX_CATALOG_NAME, pattern=CATALOG_PATTERN)
HashField = Field(min_length=64, max_length=64, pattern=HASH_PATTERN)  # sha256, hex
MaybeHashField = Field(default=None, min_length=64, max_length=64, pattern=HASH_PATTERN)
TransferIdField = Field(min_length=32, max_length=32, pattern=TRANSFER_PATTERN)
NODE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # a hub node's name (nats-server's server_name)
XKeyField = Field(min_length=56, max_length=56, pattern=XKEY_PATTERN)


# What a peer answers is checked as strictly as what it asks: a catalog server's paths,
# sizes and counts are validated before anything uses them (a hostile server is a peer).


def _checked(check: Callable[[str], str]) -> AfterValidator:
    """One of natster's checks as a pydantic validator (pydantic reports ValueErrors only)."""

    def validate(text: str) -> str:
        try:
            return check(text)
        except NatsterError as exc:
            raise ValueError(str(exc)) from exc

    return AfterValidator(validate)


EntryPath = Annotated[str, _checked(check_relpath)]
Description = Annotated[str, _checked(check_description)]  # printable, bounded
Count = Field(ge=0, le=2**53)
DescriptionField = Field(default="", max_length=limits.MAX_DESCRIPTION)


class Model(BaseModel):
    """Every wire model: validators are built on first use, so importing is cheap."""

    model_config = ConfigDict(defer_build=True)


def _first_error(exc: ValidationError, what: str) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or what}: {first['msg']}"


class Request(Model):
    """A request body: built here from a user's input, or parsed there from a peer's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # what a user typed does not fit: say so in one line
            raise Refused(f"invalid request: {_first_error(exc, 'request')}") from exc

    def encode(self) -> bytes:
        """The body as sent: only the fields given, so a peer older than a field (it
        refuses fields it does not know) still understands what does not need it."""
        return self.model_dump_json(exclude_unset=True).encode()


class Envelope(Model):
    code: int
    error: str | None = None
    data: Any = None


def parse_request(payload: bytes, model: type[M]) -> M:
    if len(payload) > limits.MAX_REQUEST_BYTES:
        raise Refused(f"request too large (over {limits.MAX_REQUEST_BYTES} bytes)", 413)
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise Refused(f"invalid request: {_first_error(exc, 'request')}") from exc


def parse_reply(data: Any, model: type[M], who: str = "the service") -> M:
    """A reply's ``data`` as ``model``; a peer's answer out of bounds is a ProtocolError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reason = _first_error(exc, "reply")
        raise ProtocolError(f"{who} sent an answer natster refuses ({reason})") from exc


def ok(data: Any = None) -> bytes:
    return Envelope(code=200, data=data).model_dump_json().encode()


def fail(code: int, error: str) -> bytes:
    return Envelope(code=code, error=error).model_dump_json().encode()


def unwrap(payload: bytes) -> Any:
    """The ``data`` of a reply envelope, or :class:`RemoteError` with its message."""
    try:
        envelope = Envelope.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise RemoteError("the service sent a reply natster cannot read") from exc
    if envelope.code != 200:
        raise RemoteError(
            envelope.error or f"the service refused (code {envelope.code})", envelope.code
        )
    return envelope.data


# --- the account service --------------------------------------------------------------


class SignupRequest(Request):
    """``natster.signup``: create my account from an invite."""

    token: str = Field(min_length=12, max_length=128)  # 4 words of 3 letters and 3 dashes: 15
    account: str = AccountField
    name: str = Field(min_length=1, max_length=limits.MAX_ACCOUNT_NAME)
    signature: str = Field(min_length=1, max_length=256)  # base64url, account key signs proof


class NodeJoinRequest(Request):
    """``natster.node.join.<node>``: make me a node of this hub (a node token's holder)."""

    token: str = Field(min_length=16, max_length=128)
    node: str = Field(pattern=f"^{NODE_NAME}$")
    route: str = Field(min_length=1, max_length=300, pattern=r"^nats-route://[^\s,/]+:[0-9]+$")
    xkey: str = XKeyField  # the joining node's fresh xkey: the bundle is sealed to it


class NodeJoinReply(Model):
    xkey: str  # the answering node's fresh xkey (the sender of ``sealed``)
    sealed: str  # base64url: the hub's node bundle, JSON, sealed to the request's xkey


UserKeyField = Field(min_length=56, max_length=56, pattern=r"^U[A-Z2-7]{55}$")
DEVICE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # a device's name, unique per account


class DeviceRedeemRequest(Request):
    """``natster.device.redeem.<id>`` (in the account itself): make me a device of this
    account (a device code's holder: its own fresh user key and xkey, no secret)."""

    user: str = UserKeyField
    xkey: str = XKeyField  # the grant is sealed to it
    host: str = Field(default="", max_length=64)  # what the new machine calls itself


class DeviceCodeAddRequest(Request):
    """``natster.accounts.devices.code``: keep a short device code's way in, under the
    sha256 of its words (which the hub is not told), until ``expires_at``: the
    throwaway user of a long code, its seed sealed with a key made from the words."""

    key: str = HashField
    token: str = Field(pattern=r"^[0-9a-f]{32}$")  # the rendezvous id
    jwt: str = Field(min_length=1, max_length=4096)
    sealed: str = Field(min_length=1, max_length=1024)  # base64url: nonce and secretbox
    expires_at: int = Field(ge=0, le=2**40)


class DeviceCodeRequest(Request):
    """``natster.device.code``: a short device code's words, for what they unlock (once)."""

    words: str = Field(min_length=1, max_length=256)


class DeviceCodeFetched(Model):
    """What a short device code's words unlock: the long code's parts (the seed sealed)."""

    account: str = AccountField
    token: str = Field(pattern=r"^[0-9a-f]{32}$")
    jwt: str = Field(min_length=1, max_length=4096)
    sealed: str = Field(min_length=1, max_length=1024)
    expires_at: int = Field(ge=0, le=2**40)


class DeviceGrant(Model):
    """The answer to a redeem: the device's user JWT, signed by the account key."""

    xkey: str  # the sender of ``sealed`` (the adding machine's fresh xkey)
    sealed: str  # base64url: {"jwt": ..., "name": ..., "rights": ..., "account_name": ...}


# --- signing a browser in (the global service's signin.* endpoints) -------------------
SIGNIN_CODE = r"[A-Z2-9]{4}-?[A-Z2-9]{4}"  # what a sign-in page shows: ABCD-EFGH


class SigninOffer(Request):
    """``natster.global.signin.offer`` (a sign-in page, as a guest of the hub): my fresh
    user key and xkey, waiting for an account to sign me in."""

    user: str = UserKeyField
    xkey: str = XKeyField  # the grant is sealed to it
    label: str = Field(default="", max_length=64)  # what the browser calls itself


class SigninCode(Model):
    code: str
    expires_in: int


class SigninCodeRequest(Request):
    """``signin.wait`` (the page) and ``signin.take`` (a signed-in machine): one code."""

    code: str = Field(pattern=f"^{SIGNIN_CODE}$")


class SigninWaiting(Model):
    """The answer to ``signin.wait``: ``waiting``, or ``granted`` with the sealed grant."""

    state: Literal["waiting", "granted"]
    xkey: str | None = None  # the sender of ``sealed``
    sealed: str | None = None  # base64url, as a DeviceGrant's


class SigninTaken(Model):
    """The answer to ``signin.take``: the keys the page made (now this account's to sign)."""

    user: str = UserKeyField
    xkey: str = XKeyField
    label: str = Field(default="", max_length=64)


class SigninGrantRequest(Request):
    """``signin.grant``: the user JWT for a code this account took, sealed to the page."""

    code: str = Field(pattern=f"^{SIGNIN_CODE}$")
    xkey: str = XKeyField
    sealed: str = Field(min_length=1, max_length=16 * 1024)


class DeviceRevokeRequest(Request):
    """``natster.accounts.devices.revoke``: cut one of my users (a device) off for good."""

    user: str = UserKeyField


class ServingRequest(Request):
    """``natster.accounts.serving``: credentials for a catalog server's user key."""

    user: str = UserKeyField


class ServingGrant(Model):
    """The serving account a catalog server answers from, and its user JWT there."""

    account: str = Field(min_length=56, max_length=56, pattern=r"^A[A-Z2-7]{55}$")
    jwt: str = Field(min_length=1, max_length=16 * 1024)
    expires_at: int


class SignupReply(Model):
    account: str
    name: str
    created_at: str


class LeaveRequest(Request):
    """``natster.accounts.leave``: delete my account from the hub. ``signature``: the
    account key's over :func:`leave_proof` (a device does not hold it)."""

    at: int = Field(ge=0, le=2**40)  # unix seconds when it was signed
    signature: str = Field(min_length=1, max_length=256)  # base64url


class LeaveReply(Model):
    account: str
    name: str
    left_at: str


class AccountRemoveRequest(Request):
    """``natster.accounts.remove`` (the hub's own accounts account only): remove one."""

    account: str = AccountField


def leave_proof(account: str, at: int) -> bytes:
    """What the account key signs to leave the hub (good for ``LEAVE_PROOF_S``)."""
    return f"natster-leave\n{account}\n{at}".encode()


class AccountUpdateRequest(Request):
    """``natster.accounts.update``: bring my account JWT up to the hub's standard."""

    name: str | None = Field(default=None, min_length=1, max_length=limits.MAX_ACCOUNT_NAME)


class ImportedCatalog(Model):
    owner: str
    catalog: str
    alias: str


class AccountInfo(Model):
    """``natster.accounts.info``: what the hub knows of my account."""

    account: str
    name: str
    created_at: str
    imports: list[str]
    exports: list[str]
    catalogs: list[ImportedCatalog] = []


class ImportAddRequest(Request):
    """``natster.accounts.imports.add``: import a catalog shared with me."""

    owner: str = AccountField
    catalog: str = CatalogField
    alias: str = CatalogField


class ImportRemoveRequest(Request):
    """``natster.accounts.imports.remove``: drop my import of a catalog."""

    owner: str = AccountField
    catalog: str = CatalogField


class ImportRevokeRequest(Request):
    """``natster.accounts.imports.revoke``: I unshared; remove the recipient's import."""

    catalog: str = CatalogField
    target: str = AccountField


class ImportRestoreRequest(ImportRevokeRequest):
    """``natster.accounts.imports.restore``: I shared again; give the recipient back the
    import an unshare took (only if they had imported it)."""


class ImportRestored(Model):
    restored: bool
    alias: str | None = None  # the name it has in the recipient's library


class ShareOutcome(Model):
    """What sharing did: nothing (``duplicate``: it was shared), or shared it, straight
    into the recipient's library if ``restored`` (they had imported it before an unshare)."""

    duplicate: bool
    restored: bool = False


def signup_proof(token: str, account: str) -> bytes:
    """What the new account key signs to show it is held by whoever redeems the invite."""
    return f"natster-signup\n{token}\n{account}".encode()


# --- the global service -----------------------------------------------------------------


class EventsPutRequest(Request):
    """``natster.global.events.put``: record a state change (the caller is its origin)."""

    type: str = Field(min_length=1, max_length=64)
    data: dict[str, Any]


class EventsPutReply(Model):
    id: str | None
    seq: int | None
    duplicate: bool = False  # nothing to record: it already was so


class HeartbeatRequest(Request):
    """``natster.global.heartbeats.put``: my catalog is served (or, ``online`` false, no more)."""

    catalog: str = CatalogField
    revision: int = Field(ge=0, le=2**53)
    online: bool = True
    description: Description = ""
    # sent only to a hub whose last reply listed it in ``takes`` (older hubs refuse it)
    transfers: int = Field(default=0, ge=0, le=limits.MAX_OPEN_TRANSFERS_REPORTED)


class HeartbeatReply(Model):
    online: bool
    takes: list[str] = []  # optional request fields this hub takes ("transfers")


class ShareCheckRequest(Request):
    """``natster.global.shares.check``: is it shared? (for the hub's account service only)"""

    owner: str = AccountField
    catalog: str = CatalogField
    target: str = AccountField


class ShareCheck(Model):
    shared: bool
    imported: bool
    alias: str | None = None  # the importer's name for it, when imported


class ValidateNameRequest(Request):
    name: str = Field(max_length=1024)


class ValidateNameReply(Model):
    valid: bool
    reason: str | None = None


class OtcClaimRequest(Request):
    """``natster.global.otc.claim``: redeem a one-time code my own account generated."""

    code: str = Field(min_length=1, max_length=64)
    client: str = Field(default="", max_length=128)


class OtcCode(Model):
    code: str
    expires_in: int


class OtcClaimed(Model):
    account: str
    bound_at: str


class ShareRow(Model):
    """One row of ``my.shares``: a catalog shared by me, or with me."""

    catalog: str
    owner: str
    to: str
    online: bool
    revision: int | None
    shared_at: str
    imported: bool
    description: str | None = None  # what the owner's server says, while it is online
    owner_name: str = ""  # the owner's name on the hub (unique there: keys stay the identity)
    to_name: str = ""  # the name of the account it is shared with


class LibraryItem(Model):
    """One catalog of my library (``GET /api/catalogs``): mine, or shared with me."""

    owner: str
    owner_name: str
    catalog: str
    alias: str  # the name I use for it (an import may be renamed)
    mine: bool
    imported: bool  # mine, or imported from the inbox
    online: bool
    description: str
    files: int | None  # None while an owner's catalog is offline (nobody to ask)
    bytes: int | None
    shared_with: list[str]  # my catalogs: who may import them
    names: dict[str, str] = {}  # the names of the accounts in shared_with, by key


# --- the catalog service ------------------------------------------------------------------


class CatalogSummary(Model):
    """``<catalog>.summary``."""

    name: str = CatalogField
    owner: str = AccountField
    description: str = DescriptionField
    revision: int = Count
    files: int = Count
    bytes: int = Count


CodecField = Field(default=None, pattern=r"^[a-z0-9_]{1,32}$")
TagField = Field(default=None, pattern=TAG_PATTERN)  # a tag read from anyone's file
Pixels = Field(default=None, ge=1, le=1_000_000)


class MediaInfo(Model):
    """What the owner's machine knows of a picture, film or song (where it knows it)."""

    kind: Literal["image", "video", "audio"]
    width: int | None = Pixels
    height: int | None = Pixels
    duration: float | None = Field(default=None, ge=0, le=10**8)  # seconds
    video: str | None = CodecField  # codec names as ffmpeg says them: h264, hevc, vp9...
    audio: str | None = CodecField
    title: str | None = TagField  # a song's tags
    artist: str | None = TagField
    album: str | None = TagField
    track: int | None = Field(default=None, ge=1, le=9999)
    year: int | None = Field(default=None, ge=1000, le=9999)
    taken: str | None = Field(default=None, pattern=TAKEN_PATTERN)  # a picture's EXIF
    camera: str | None = TagField


class EntryRow(Model):
    path: EntryPath
    size: int = Count
    hash: str = HashField
    mime: str = Field(max_length=255)
    description: str = DescriptionField
    mtime: int | None = Field(default=None, ge=0, le=2**53)  # Unix seconds
    media: MediaInfo | None = None


SearchKind = Literal["video", "audio", "image", "document"]
FolderSort = Literal["name", "size", "type", "date"]


class ContentsRequest(Request):
    """``<catalog>.contents`` and ``<catalog>.search``: one page of entries, in path order."""

    after: str = Field(default="", max_length=limits.MAX_PATH_CHARS)
    limit: int = Field(default=limits.CONTENTS_PAGE, ge=1, le=limits.CONTENTS_PAGE_MAX)
    prefix: str = Field(default="", max_length=limits.MAX_PATH_CHARS)
    text: str = Field(default="", max_length=256)
    kind: SearchKind | None = None  # search: only this kind of media


class FolderRequest(Request):
    """``<catalog>.folder``: one page of a folder, its subfolders first, then its files."""

    path: str = Field(default="", max_length=limits.MAX_PATH_CHARS)  # "": the top
    sort: FolderSort = "name"
    reverse: bool = False
    offset: int = Field(default=0, ge=0, le=2**40)
    limit: int = Field(default=limits.CONTENTS_PAGE, ge=1, le=limits.CONTENTS_PAGE_MAX)


class FolderRow(Model):
    path: EntryPath  # the folder's full path, no trailing "/"
    files: int = Count  # every file below it
    bytes: int = Count
    mtime: int | None = Field(default=None, ge=0, le=2**53)  # its newest file's


class FolderPage(Model):
    folders: list[FolderRow] = Field(max_length=limits.CONTENTS_PAGE_MAX)
    entries: list[EntryRow] = Field(max_length=limits.CONTENTS_PAGE_MAX)
    total: int = Count  # folders and files directly in it
    next: int | None = Field(ge=0, le=2**40)  # pass as ``offset`` for the next page
    revision: int = Count


class SearchedCatalog(Model):
    """One catalog's part of a search over everything I can see."""

    owner: str = AccountField
    owner_name: str = Field(default="", max_length=64)
    catalog: str = CatalogField
    alias: str = CatalogField
    mine: bool
    state: Literal["found", "offline", "failed"]  # failed: see error
    error: str | None = None
    entries: list[EntryRow] = Field(default_factory=list)
    more: bool = False  # it has more hits than it was asked for


class SearchResults(Model):
    text: str
    kind: SearchKind | None = None
    catalogs: list[SearchedCatalog]


class ThumbnailRequest(Request):
    """``<catalog>.thumbnail``: a small JPEG of the file with this hash, sealed to
    ``xkey`` (the requester's fresh xkey, for this request only)."""

    hash: str = HashField
    xkey: str = XKeyField


class Thumbnail(Model):
    xkey: str = XKeyField  # the server's fresh xkey, for this reply only
    data: str = Field(  # base64 of the JPEG, sealed (xkv1) bound to thumb_aad(hash)
        max_length=4 * -(-(limits.THUMB_MAX_BYTES + 44) // 3), pattern=r"^[A-Za-z0-9+/]*=*$"
    )


def thumb_aad(digest: str) -> bytes:
    """What a thumbnail's seal is bound to: it opens only as this file's thumbnail."""
    return f"thumb:{digest}".encode()


class ContentsPage(Model):
    entries: list[EntryRow] = Field(max_length=limits.CONTENTS_PAGE_MAX)
    next: EntryPath | None  # pass as ``after`` for the next page; None at the end
    revision: int = Count


class GlobalWhoami(Model):
    account: str
    name: str
    initialized_at: str
    bound_login: dict[str, str] | None


class PeopleRequest(Request):
    """``natster.global.people``: the hub's members whose name contains ``text``."""

    text: str = Field(default="", max_length=limits.MAX_ACCOUNT_NAME)


class Person(Model):
    account: str = AccountField
    name: str = Field(min_length=1, max_length=limits.MAX_ACCOUNT_NAME)


class People(Model):
    """Members by name (at most ``limits.PEOPLE_MAX``; ``more``: others matched too)."""

    people: list[Person] = Field(max_length=limits.PEOPLE_MAX)
    more: bool = False


class Stats(Model):
    accounts: int
    catalogs_online: int
    shares: int


# --- transfers ----------------------------------------------------------------------------


class TransferOpenRequest(Request):
    """``<catalog>.transfer-open``: start sending me the file with this hash, or the file
    at this path (one request where a lookup and an open would take two: the reply says
    its hash). Exactly one of the two."""

    hash: str | None = MaybeHashField
    path: EntryPath | None = None
    xkey: str = XKeyField
    chunk_size: int = Field(
        default=limits.CHUNK_SIZE, ge=limits.MIN_CHUNK_SIZE, le=limits.MAX_CHUNK_SIZE
    )

    @model_validator(mode="after")
    def _hash_or_path(self) -> TransferOpenRequest:
        if (self.hash is None) == (self.path is None):
            raise ValueError("give a file's hash or its path")
        return self


def chunk_size_within(wanted: int, max_payload: int) -> int:
    """``wanted``, shrunk to what a connection with this ``max_payload`` carries."""
    return max(limits.MIN_CHUNK_SIZE, min(wanted, max_payload - limits.CHUNK_HEADROOM))


class TransferOpened(Model):
    transfer: str = TransferIdField
    xkey: str = XKeyField  # the server's fresh xkey for this transfer only
    size: int = Count
    chunk_size: int = Field(ge=limits.MIN_CHUNK_SIZE, le=limits.MAX_CHUNK_SIZE)
    chunks: int = Count
    path: EntryPath
    # chunks one chunk request may ask for at once (its ``count``); 1 from a server that
    # predates spans, which then must not be asked for more; a receiver asks for at most
    # its own MAX_SPAN whatever a (newer) server offers
    span: int = Field(default=1, ge=1, le=2**20)
    # the file's sha256 (from servers since open-by-path; always when opened by path)
    hash: str | None = MaybeHashField

    @model_validator(mode="after")
    def _chunks_cover_the_file(self) -> TransferOpened:
        if self.chunks != -(-self.size // self.chunk_size):
            raise ValueError("chunks must be the file's size in chunks")
        return self


class TransferChunkRequest(Request):
    """``<catalog>.transfer-chunk``: chunk ``index`` of my transfer (any order: random access),
    or ``count`` chunks from there as one message (a span: at most the opened ``span``).

    The reply is the bytes sealed in the xkv1 format with associated data
    ``"<transfer>:<index>"`` (``"<transfer>:<index>+<count>"`` for a span of more than
    one), or an error envelope (JSON). A span running past the file's end is cut there.
    """

    transfer: str = TransferIdField
    index: int = Field(ge=0, le=2**40)
    count: int = Field(default=1, ge=1, le=limits.MAX_SPAN)


class TransferCloseRequest(Request):
    transfer: str = TransferIdField


class TransferDirectRequest(Request):
    """``<catalog>.transfer-direct``: a way to read my open ``transfer`` straight from the
    owner's machine (its direct endpoint), if it offers one."""

    transfer: str = TransferIdField


DirectUrl = Annotated[
    str,
    Field(
        max_length=100, pattern=r"^tls://(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,63}):[0-9]{1,5}$"
    ),
]


class DirectOffer(Model):
    """Where the owner's direct endpoint listens (each a candidate: the receiver tries
    them at once), its certificate (PEM: the receiver trusts it and nothing else), and a
    single-use ticket for this transfer and account (docs/protocol.md)."""

    urls: list[DirectUrl] = Field(min_length=1, max_length=8)
    cert: str = Field(min_length=100, max_length=4096, pattern=r"^-----BEGIN CERTIFICATE-----")
    ticket: str = Field(min_length=32, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


def chunk_aad(transfer: str, index: int, count: int = 1) -> bytes:
    """What a chunk's seal is bound to: it opens only in its own transfer and place (and,
    for a span, as that many chunks: a span cut short or joined to another fails)."""
    return f"{transfer}:{index}".encode() if count == 1 else f"{transfer}:{index}+{count}".encode()
