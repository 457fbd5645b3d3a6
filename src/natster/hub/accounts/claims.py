"""The account JWTs natster issues: user accounts and the hub's platform accounts."""

from __future__ import annotations

from collections.abc import Callable

from natster import limits, subjects
from natster.errors import JwtError
from natster.security import KeyKind, is_public_key
from natster.security.jwt import (
    AccountClaims,
    AccountLimits,
    AccountNats,
    Export,
    ExternalAuthorization,
    Import,
)
from natster.wire import ImportedCatalog


def _tp(name: str, subject: str, kind: str, **extra: object) -> Export:
    return Export.model_validate(
        {"name": name, "subject": subject, "type": kind, "account_token_position": 1, **extra}
    )


def _own(
    name: str, kind: str, exporter: str, export: str, local: str, account: str, **extra: object
) -> Import:
    """An import of a token-position export, with ``account``'s own key in token 1."""
    return Import.model_validate(
        {
            "name": name,
            "type": kind,
            "account": exporter,
            "subject": subjects.for_account(export, account),
            "local_subject": local,
            **extra,
        }
    )


def _global_import(global_: str, account: str) -> Import:
    """The global service, told which user of the account asks (``share``: nats-server
    names the user in each request's Nats-Request-Info), so a login code binds to it."""
    return _own(
        "natster-global",
        "service",
        global_,
        subjects.GLOBAL_EXPORT,
        subjects.GLOBAL_LOCAL,
        account,
        share=True,
    )


def user_account(
    account: str, name: str, *, accounts: str, global_: str, serving: str
) -> AccountClaims:
    """A natster user's account: imports of the hub's services and of its own catalogs.

    It exports nothing and sends small messages only: its catalog servers answer from
    ``serving``, its serving account (:func:`serving_account`), which it imports like
    anyone it shares with. Every import of a token-position export carries this
    account's own key in token 1.
    """
    imports = [
        _own(
            "natster-accounts",
            "service",
            accounts,
            subjects.ACCOUNTS_EXPORT,
            subjects.ACCOUNTS_LOCAL,
            account,
        ),
        _global_import(global_, account),
        _own("natster-feed", "stream", global_, subjects.FEED_EXPORT, subjects.FEED_LOCAL, account),
        _own(
            OWN_CATALOGS,
            "service",
            serving,
            subjects.CATALOG_EXPORT,
            subjects.for_account(subjects.CATALOG_EXPORT, account),
            account,
        ),
    ]
    return AccountClaims(
        sub=account,
        name=name,
        nats=AccountNats(imports=imports, limits=user_limits()),
    )


def serving_account(serving: str, owner: str, name: str) -> AccountClaims:
    """Where ``owner``'s catalog servers answer from: the catalog export, and messages
    large enough for a chunk. It imports nothing, so what its users send reaches only
    those who asked them (hub/accounts/serving.py)."""
    return AccountClaims(
        sub=serving,
        name=f"{name} (catalogs)",
        nats=AccountNats(
            exports=[
                _tp(
                    "natster-catalog",
                    subjects.CATALOG_EXPORT,
                    "service",
                    response_type="Singleton",
                    response_threshold=int(limits.CATALOG_RESPONSE_THRESHOLD_S * 1e9),
                ),
            ],
            limits=AccountLimits(
                conn=limits.ACCOUNT_CONNECTIONS,
                subs=limits.ACCOUNT_SUBSCRIPTIONS,
                payload=limits.HUB_MAX_PAYLOAD,
                imports=0,
                exports=1,
                leaf=0,
            ),
            description=f"the catalog servers of {owner}",
        ),
    )


def user_limits() -> AccountLimits:
    """What one user account may use of the hub; nats-server enforces these."""
    return AccountLimits(
        conn=limits.ACCOUNT_CONNECTIONS,
        subs=limits.ACCOUNT_SUBSCRIPTIONS,
        payload=limits.ACCOUNT_PAYLOAD,
        imports=limits.ACCOUNT_IMPORTS,
        exports=limits.ACCOUNT_EXPORTS,
        leaf=0,
    )


def is_standard(
    current: AccountClaims, standard: AccountClaims, exporter_of: Callable[[str], str]
) -> bool:
    """Whether ``current`` already has what :func:`refreshed` would give it."""
    return refreshed(current, standard, exporter_of) == current


def refreshed(
    current: AccountClaims, standard: AccountClaims, exporter_of: Callable[[str], str]
) -> AccountClaims:
    """``current`` with the standard exports, imports and limits; its catalog imports
    kept, each from its owner's serving account (``exporter_of``)."""
    standard_names = {item.name for item in standard.nats.imports}
    extra = [item for item in current.nats.imports if item.name not in standard_names]
    nats = current.nats.model_copy(
        update={
            "exports": standard.nats.exports,
            "imports": [*standard.nats.imports, *extra],
            "limits": standard.nats.limits,
        }
    )
    return repointed(current.model_copy(update={"name": standard.name, "nats": nats}), exporter_of)


CATALOG_IMPORT = "natster-catalog"
OWN_CATALOGS = "natster-own-catalogs"


def _catalog_import_name(owner: str, catalog: str) -> str:
    return f"{CATALOG_IMPORT}:{owner}:{catalog}"


def imported_catalogs(claims: AccountClaims) -> list[ImportedCatalog]:
    """The catalogs an account imports, from its JWT (the only source of truth)."""
    found = []
    for item in claims.nats.imports:
        parts = (item.name or "").split(":")
        if len(parts) == 3 and parts[0] == CATALOG_IMPORT and item.local_subject:
            alias = item.local_subject.split(".")[2]
            found.append(ImportedCatalog(owner=parts[1], catalog=parts[2], alias=alias))
    return found


def with_catalog_import(
    claims: AccountClaims, owner: str, catalog: str, alias: str, *, exporter: str
) -> AccountClaims:
    """``claims`` plus an import of exactly one catalog of ``owner`` (replacing an older
    one), from ``exporter``: the owner's serving account, where its catalog servers are."""
    claims = without_catalog_import(claims, owner, catalog)
    claims.nats.imports.append(
        Import(
            name=_catalog_import_name(owner, catalog),
            type="service",
            account=exporter,
            subject=subjects.catalog_import(claims.sub, catalog),
            local_subject=subjects.remote_local(alias),
        )
    )
    return claims


def repointed(claims: AccountClaims, exporter_of: Callable[[str], str]) -> AccountClaims:
    """``claims`` with each catalog import from its owner's serving account (an account
    made before serving accounts imported catalogs from their owners themselves)."""
    imports = []
    for item in claims.nats.imports:
        parts = (item.name or "").split(":")
        if len(parts) == 3 and parts[0] == CATALOG_IMPORT:
            item = item.model_copy(update={"account": exporter_of(parts[1])})
        imports.append(item)
    return claims.model_copy(update={"nats": claims.nats.model_copy(update={"imports": imports})})


EVERY_USER = "*"  # in an account's revocations: every user's JWTs issued up to then


def live_revocations(claims: AccountClaims, since: float) -> dict[str, int] | None:
    """``claims``' revocations made after ``since``: those before it revoke only JWTs
    that have all expired by now (for accounts whose users live less than that)."""
    kept = {user: at for user, at in (claims.nats.revocations or {}).items() if at >= since}
    return kept or None


def with_revocation(claims: AccountClaims, user: str, at: int) -> AccountClaims:
    """``claims`` revoking every JWT of ``user`` issued up to ``at`` (unix seconds):
    nats-server closes that user's connections and refuses it from then on."""
    revocations = dict(claims.nats.revocations or {})
    revocations[user] = max(at, revocations.get(user, 0))
    claims.nats.revocations = revocations
    return claims


def without_catalog_import(claims: AccountClaims, owner: str, catalog: str) -> AccountClaims:
    name = _catalog_import_name(owner, catalog)
    claims.nats.imports = [i for i in claims.nats.imports if i.name != name]
    return claims


def closed(claims: AccountClaims, at: int) -> AccountClaims:
    """``claims`` of an account that left: nothing exported or imported, every user's
    JWT issued up to ``at`` revoked, and no connection allowed at all (a user its key
    signs later is refused too: nats-server reads a limit of 0 as none)."""
    claims = with_revocation(claims, EVERY_USER, at)
    claims.nats.exports = []
    claims.nats.imports = []
    claims.nats.limits = AccountLimits(conn=0, leaf=0, subs=0, payload=0, imports=0, exports=0)
    claims.nats.description = "left the hub"
    return claims


def is_closed(claims: AccountClaims) -> bool:
    return claims.nats.limits.conn == 0 and not claims.nats.exports and not claims.nats.imports


def system_account(account: str) -> AccountClaims:
    return AccountClaims(sub=account, name="SYS", nats=AccountNats(limits=AccountLimits()))


def accounts_account(account: str, *, global_: str) -> AccountClaims:
    """The account service's account: signup (public) and per-account requests.

    It imports the global service like any account, to record accounts it creates.
    """
    return AccountClaims(
        sub=account,
        name="natster-accounts",
        nats=AccountNats(
            imports=[_global_import(global_, account)],
            exports=[
                _tp("natster-accounts", subjects.ACCOUNTS_EXPORT, "service"),
                Export(name="natster-signup", subject=subjects.SIGNUP, type="service"),
                Export(name="natster-device-code", subject=subjects.DEVICE_CODE, type="service"),
            ],
            limits=AccountLimits(
                mem_storage=limits.ACCOUNTS_JS_MEM, disk_storage=limits.ACCOUNTS_JS_DISK
            ),
        ),
    )


def global_account(account: str) -> AccountClaims:
    """The global service's unprivileged account."""
    return AccountClaims(
        sub=account,
        name="natster-global",
        nats=AccountNats(
            exports=[
                _tp("natster-global", subjects.GLOBAL_EXPORT, "service"),
                _tp("natster-feed", subjects.FEED_EXPORT, "stream"),
            ],
            limits=AccountLimits(
                mem_storage=limits.GLOBAL_JS_MEM, disk_storage=limits.GLOBAL_JS_DISK
            ),
        ),
    )


def signup_account(account: str, *, accounts: str, global_: str) -> AccountClaims:
    """Where invite holders (and short device codes' holders) connect before they have
    credentials of their own (sign-in
    pages have theirs: :func:`signin_account`); what each may publish is its user
    JWT's own business."""
    return AccountClaims(
        sub=account,
        name="natster-signup",
        nats=AccountNats(
            imports=[
                Import(
                    name="natster-signup",
                    type="service",
                    account=accounts,
                    subject=subjects.SIGNUP,
                ),
                Import(
                    name="natster-device-code",
                    type="service",
                    account=accounts,
                    subject=subjects.DEVICE_CODE,
                ),
            ],
            limits=_guest_limits(imports=2),
        ),
    )


def signin_account(account: str, *, global_: str) -> AccountClaims:
    """Where browsers' sign-in pages connect (hub/entry/guests.py): they may ask the global
    service's ``signin.*`` (told which guest asks: ``share``), nothing else."""
    return AccountClaims(
        sub=account,
        name="natster-signin",
        nats=AccountNats(
            imports=[
                Import(
                    name="natster-signin",
                    type="service",
                    account=global_,
                    subject=f"{account}.{subjects.SIGNIN_LOCAL}",
                    local_subject=subjects.SIGNIN_LOCAL,
                    share=True,
                ),
            ],
            limits=_guest_limits(imports=1, conn=limits.SIGNIN_CONNECTIONS),
        ),
    )


def _guest_limits(imports: int, conn: int = limits.SIGNUP_CONNECTIONS) -> AccountLimits:
    """What the accounts of people without an account yet (signup, doorstep, signin) may
    use."""
    return AccountLimits(
        conn=conn,
        subs=limits.SIGNUP_SUBSCRIPTIONS,
        payload=limits.SIGNUP_PAYLOAD,
        imports=imports,
        exports=0,
        leaf=0,
    )


def doorstep_account(account: str, *, service: str, signup: str, xkey: str) -> AccountClaims:
    """Where a short invite's holder knocks (hub/entry/doorstep.py): everyone but ``service``
    is asked about on the auth callout, whose answers place them in ``signup``; requests
    and answers are sealed to ``xkey``. Nothing else happens here."""
    return AccountClaims(
        sub=account,
        name="natster-doorstep",
        nats=AccountNats(
            authorization=ExternalAuthorization(
                auth_users=[service], allowed_accounts=[signup], xkey=xkey
            ),
            limits=_guest_limits(imports=0),
        ),
    )


def check_account(claims: AccountClaims) -> None:
    """Refuse an account JWT natster must never sign.

    An import whose subject starts with an account key must start with *this*
    account's key: NATS drops a lying import silently (REFERENCE.md), so natster
    refuses it loudly before it is signed.
    """
    if not is_public_key(claims.sub, KeyKind.ACCOUNT):
        raise JwtError("an account JWT's subject must be an account key")
    for item in claims.nats.imports:
        if not is_public_key(item.account, KeyKind.ACCOUNT):
            raise JwtError(f"import {item.subject!r} names an invalid exporting account")
        first = item.subject.split(".", 1)[0]
        if is_public_key(first, KeyKind.ACCOUNT) and first != claims.sub:
            raise JwtError(
                f"import {item.subject!r} puts another account's key in the token position"
            )
