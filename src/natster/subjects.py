"""Every NATS subject natster uses, in one place (docs/protocol.md describes each).

Exports that carry the requester's identity use account token position 1: the first
token of the exporter-side subject is the importing account's public key, put there
by NATS, so a service reads the caller's identity from it and never from a payload.
"""

from __future__ import annotations

# --- exports of every user account (the catalog server) ----------------------------
CATALOG_EXPORT = "*.natster.catalog.>"  # service, token position 1

CATALOG_PREFIX = "natster.catalog"  # <requester>.natster.catalog.<catalog>.<endpoint>
REMOTE_PREFIX = "natster.remote"  # an importer's view: natster.remote.<alias>.<endpoint>


def catalog_listen(catalog: str, endpoint: str) -> str:
    """What a catalog server subscribes to (any requester, in token 1)."""
    return f"*.{CATALOG_PREFIX}.{catalog}.{endpoint}"


def catalog_local(owner: str, catalog: str, endpoint: str) -> str:
    """How an owner reaches its own catalog server (inside its own account)."""
    return f"{owner}.{CATALOG_PREFIX}.{catalog}.{endpoint}"


def catalog_import(importer: str, catalog: str) -> str:
    """The exporter-side subject of an import of one catalog."""
    return f"{importer}.{CATALOG_PREFIX}.{catalog}.>"


def remote_local(alias: str, endpoint: str = ">") -> str:
    """How an importer reaches an imported catalog (under its local alias)."""
    return f"{REMOTE_PREFIX}.{alias}.{endpoint}"


# --- the account service (in the hub's "accounts" account) -------------------------
ACCOUNTS_EXPORT = "*.natster.accounts.>"  # service, token position 1
ACCOUNTS_LOCAL = "natster.accounts.>"  # what a user account sees
ACCOUNTS_PREFIX = "natster.accounts"
SIGNUP = "natster.signup"  # public service export, imported by the signup account
DEVICE_CODE = "natster.device.code"  # ...and where a short device code's words are redeemed
NODE_JOIN = "natster.node.join.{node}"  # in the accounts account; answered by that node

# --- the global service (in the hub's "global" account) ----------------------------
GLOBAL_EXPORT = "*.natster.global.>"  # service, token position 1
GLOBAL_LOCAL = "natster.global.>"
GLOBAL_PREFIX = "natster.global"
SIGNIN_LOCAL = "natster.global.signin.>"  # what a sign-in page may ask (signup account)
FEED_EXPORT = "*.natster.feed.>"  # stream, token position 1
FEED_LOCAL = "natster.feed.>"

# --- inboxes: where replies come -----------------------------------------------------
INBOX = "_INBOX_"  # + the user's key: each user's own, the only one its JWT lets it read


def inbox_of(user: str) -> str:
    """``user``'s inbox prefix (replies to it come on ``<prefix>.<...>``)."""
    return f"{INBOX}{user}"


def inbox_allowed(user: str) -> str:
    """What ``user``'s JWT lets it subscribe to for replies: its own inbox only."""
    return f"{inbox_of(user)}.>"


SERVICE_DISCOVERY = "$SRV.>"  # where a micro service answers PING, INFO and STATS
AUTH_CALLOUT = "$SYS.REQ.USER.AUTH"  # nats-server asks an auth callout here

# --- a catalog server's direct endpoint (services/direct) -----------------------------
DIRECT_CHUNKS = "natster.direct.*.chunk"  # a transfer's chunks, asked as transfer-chunk


def direct_chunk(transfer: str) -> str:
    """Where chunks of ``transfer`` are asked for on the direct endpoint."""
    return f"natster.direct.{transfer}.chunk"


def direct_transfer(transfer: str) -> str:
    """Where the holder of a ticket for ``transfer`` asks (its chunks), and nothing else."""
    return f"natster.direct.{transfer}.>"


def direct_inbox(transfer: str) -> str:
    """The inbox prefix of the connection admitted for ``transfer`` (its replies only)."""
    return f"_INBOX_direct_{transfer}"


# --- devices (inside a user account) -----------------------------------------------
DEVICE_REDEEM = "natster.device.redeem"  # .<id>: a device code's holder asks `device add`
ACCOUNT_CONNZ = "$SYS.REQ.ACCOUNT.PING.CONNZ"  # nats-server: my account's connections

# --- nats-server's system account --------------------------------------------------
SYS_CLAIMS_UPDATE = "$SYS.REQ.ACCOUNT.{account}.CLAIMS.UPDATE"
SYS_CLAIMS_LOOKUP = "$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP"
SYS_CONNECT_EVENT = "$SYS.ACCOUNT.{account}.CONNECT"  # a client of that account connected
SYS_DISCONNECT_EVENT = "$SYS.ACCOUNT.{account}.DISCONNECT"  # ...and went
SYS_KICK = "$SYS.REQ.SERVER.{server}.KICK"  # {"cid"}: that server closes that connection


def for_account(exported: str, account: str) -> str:
    """The exporter-side subject of a token-position export for ``account``."""
    head, _, rest = exported.partition(".")
    if head != "*":
        raise ValueError(f"{exported!r} has no account token")
    return f"{account}.{rest}"


def caller_of(subject: str) -> str:
    """The account key NATS put in token 1 of a request's subject."""
    return subject.split(".", 1)[0]


def global_listen(endpoint: str) -> str:
    """The subject the global service listens on for that endpoint (any caller)."""
    return f"*.{GLOBAL_PREFIX}.{endpoint}"


def feed_for(account: str, kind: str) -> str:
    """The exporter-side subject of one account's feed (``natster.feed.<kind>`` to it)."""
    return for_account(FEED_EXPORT, account).replace(">", kind)


def global_local(endpoint: str) -> str:
    """The subject an account requests a global-service endpoint on."""
    return f"{GLOBAL_PREFIX}.{endpoint}"


def accounts_local(endpoint: str) -> str:
    """The subject a user account requests an account-service endpoint on."""
    return f"{ACCOUNTS_PREFIX}.{endpoint}"


def accounts_listen(endpoint: str) -> str:
    """The subject the account service listens on for that endpoint (any caller)."""
    return f"*.{ACCOUNTS_PREFIX}.{endpoint}"


# --- JetStream names in the hub's "global" account -------------------------------------
EVENTS_STREAM = "NATSTER_EVENTS"  # the event log
EVENTS_PREFIX = "natster.events"  # natster.events.<kind>.<origin>
PRESENCE_BUCKET = "natster_presence"  # key: <owner>.<catalog>; per-key TTL
OTC_BUCKET = "natster_otc"  # key: sha256(code); per-key TTL
SIGNIN_BUCKET = "natster_signin"  # key: sha256(code) of a browser's sign-in; max age
PRESENCE_REPUBLISH = "natster.presence.>"  # every presence write, republished (internal)
REBUILT = "natster.internal.rebuilt"  # tells every instance's mirror to reload (internal)
REBUILDING = "natster.internal.rebuilding"  # a rebuild runs: projectors hold off (internal)


def kv_subject(bucket: str, key: str) -> str:
    """The subject a key-value write to ``key`` of ``bucket`` is a message on."""
    return f"$KV.{bucket}.{key}"


# --- JetStream names (key-value buckets) in the hub's "accounts" account ---------------
INVITES_BUCKET = "natster_invites"  # key: sha256(token); per-key TTL
ACCOUNTS_BUCKET = "natster_accounts"  # key: account public key; name, created_at
NAMES_BUCKET = "natster_account_names"  # key: sha256 of a name's look-alike form; its holder
