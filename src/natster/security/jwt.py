"""NATS JWT v2 claims: operator, account, user, activation and auth callout, signed
with nkeys.

Written in-project (see REFERENCE.md: the PyPI ``nats-jwt`` package gets JetStream
field names and signing keys wrong). Field names are those of the Go
``nats-io/jwt/v2`` package. Limits that are left out mean *zero* to nats-server,
so every builder here sets them explicitly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from natster.errors import JwtError

from ._codec import KeyKind, is_public_key
from .keys import KeyPair, verify

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
UNLIMITED = -1


class _Model(BaseModel):
    # Keep what we do not model: a JWT read back must re-encode without loss.
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class Permission(_Model):
    allow: list[str] | None = None
    deny: list[str] | None = None


class ResponsePermission(_Model):
    max: int = 1
    ttl: int = 0  # nanoseconds


class Export(_Model):
    name: str | None = None
    subject: str
    type: Literal["service", "stream"]
    token_req: bool | None = None
    revocations: dict[str, int] | None = None
    response_type: Literal["Singleton", "Stream", "Chunked"] | None = None
    response_threshold: int | None = None  # nanoseconds
    account_token_position: int | None = None
    advertise: bool | None = None
    description: str | None = None


class Import(_Model):
    name: str | None = None
    subject: str
    account: str
    token: str | None = None
    local_subject: str | None = None
    type: Literal["service", "stream"]
    share: bool | None = None


class AccountLimits(_Model):
    """Account limits; every one explicit (omitted means 0 to nats-server)."""

    subs: int = UNLIMITED
    data: int = UNLIMITED
    payload: int = UNLIMITED
    imports: int = UNLIMITED
    exports: int = UNLIMITED
    wildcards: bool = True
    conn: int = UNLIMITED
    leaf: int = UNLIMITED
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = UNLIMITED
    consumer: int = UNLIMITED
    max_ack_pending: int = UNLIMITED
    mem_max_stream_bytes: int = 0
    disk_max_stream_bytes: int = 0
    max_bytes_required: bool = False


class OperatorNats(_Model):
    signing_keys: list[str] = Field(default_factory=list)
    system_account: str | None = None
    account_server_url: str | None = None
    operator_service_urls: list[str] | None = None
    type: Literal["operator"] = "operator"
    version: int = 2


class ExternalAuthorization(_Model):
    """An account's auth callout: its ``auth_users`` connect as themselves, everyone
    else is asked about on ``$SYS.REQ.USER.AUTH``; the answer may place the client in
    one of ``allowed_accounts``; with ``xkey``, requests and answers are sealed to it."""

    auth_users: list[str] = Field(default_factory=list)
    allowed_accounts: list[str] | None = None
    xkey: str | None = None


class AccountNats(_Model):
    imports: list[Import] = Field(default_factory=list)
    exports: list[Export] = Field(default_factory=list)
    limits: AccountLimits = Field(default_factory=AccountLimits)
    signing_keys: list[str] | None = None
    revocations: dict[str, int] | None = None
    default_permissions: dict[str, Permission] | None = None
    authorization: ExternalAuthorization | None = None
    description: str | None = None
    type: Literal["account"] = "account"
    version: int = 2


class UserNats(_Model):
    pub: Permission = Field(default_factory=Permission)
    sub: Permission = Field(default_factory=Permission)
    resp: ResponsePermission | None = None
    subs: int = UNLIMITED
    data: int = UNLIMITED
    payload: int = UNLIMITED
    bearer_token: bool = False
    issuer_account: str | None = None
    type: Literal["user"] = "user"
    version: int = 2


class ActivationNats(_Model):
    subject: str
    kind: Literal["service", "stream"]
    issuer_account: str | None = None
    type: Literal["activation"] = "activation"
    version: int = 2


class ServerId(_Model):
    name: str = ""
    host: str = ""
    id: str
    xkey: str | None = None


class ClientInformation(_Model):
    host: str | None = None
    id: int | None = None
    user: str | None = None
    name: str | None = None


class ConnectOptions(_Model):
    jwt: str | None = None
    user: str | None = Field(default=None, repr=False)
    password: str | None = Field(default=None, alias="pass", repr=False)
    auth_token: str | None = Field(default=None, repr=False)
    name: str | None = None


class AuthorizationRequestNats(_Model):
    """What nats-server asks an auth callout about a connecting client (it signs this
    with its own server key): the user key it made for the client, and what it sent."""

    server_id: ServerId
    user_nkey: str
    client_info: ClientInformation = Field(default_factory=ClientInformation)
    connect_opts: ConnectOptions = Field(default_factory=ConnectOptions)
    type: Literal["authorization_request"] = "authorization_request"
    version: int = 2


class AuthorizationResponseNats(_Model):
    """An auth callout's answer: a user JWT for the client, or why not (one of the two)."""

    jwt: str | None = None
    error: str | None = None
    issuer_account: str | None = None
    type: Literal["authorization_response"] = "authorization_response"
    version: int = 2


N = TypeVar("N", bound=_Model)


class Claims(_Model, Generic[N]):
    jti: str = ""
    iat: int = 0
    iss: str = ""
    sub: str
    aud: str | None = None
    name: str | None = None
    exp: int | None = None
    nbf: int | None = None
    nats: N


OperatorClaims = Claims[OperatorNats]
AccountClaims = Claims[AccountNats]
UserClaims = Claims[UserNats]
ActivationClaims = Claims[ActivationNats]
AuthorizationRequestClaims = Claims[AuthorizationRequestNats]
AuthorizationResponseClaims = Claims[AuthorizationResponseNats]

# Which key role may issue which claim (besides signing keys, checked by callers).
_ISSUER_KIND: dict[type[BaseModel], KeyKind] = {
    OperatorNats: KeyKind.OPERATOR,
    AccountNats: KeyKind.OPERATOR,
    UserNats: KeyKind.ACCOUNT,
    ActivationNats: KeyKind.ACCOUNT,
    AuthorizationRequestNats: KeyKind.SERVER,
    AuthorizationResponseNats: KeyKind.ACCOUNT,
}
_SUBJECT_KIND: dict[type[BaseModel], KeyKind | None] = {
    OperatorNats: KeyKind.OPERATOR,
    AccountNats: KeyKind.ACCOUNT,
    UserNats: KeyKind.USER,
    ActivationNats: None,  # the importing account, or a public key hash
    AuthorizationRequestNats: KeyKind.ACCOUNT,  # the account whose callout is asked
    AuthorizationResponseNats: KeyKind.USER,  # the key the server made for the client
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError("that JWT is not valid base64url") from exc


def encode(claims: Claims[N], signer: KeyPair, *, iat: int | None = None) -> str:
    """Sign ``claims`` with ``signer``; sets ``iss``, ``iat`` and a content-derived ``jti``."""
    expected = _ISSUER_KIND[type(claims.nats)]
    if signer.kind is not expected:
        kind = type(claims.nats).__name__.removesuffix("Nats").lower()
        raise JwtError(f"an {kind} JWT is signed by an {expected.name.lower()} key")
    data = claims.model_copy(update={"iss": signer.public_key, "jti": ""})
    data.iat = iat if iat is not None else max(int(time.time()), claims.iat)
    body = data.model_dump(mode="json", exclude_none=True, by_alias=True)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode("ascii").rstrip("=")
    header = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64(signer.sign(signing_input))}"


def decode(token: str, model: type[N], *, now: float | None = None) -> Claims[N]:
    """Parse and verify ``token``: header, signature by ``iss``, type, expiry, key roles.

    This proves the JWT is self-consistent; whether ``iss`` is *trusted* (the operator
    or one of its signing keys, say) is the caller's question.
    """
    if not isinstance(token, str):
        raise JwtError("a JWT is a string")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise JwtError("a JWT has three dot-separated parts")
    try:
        header = json.loads(_unb64(parts[0]))
        body = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("that JWT's header or claims are not JSON") from exc
    if (
        not isinstance(header, dict)
        or str(header.get("typ", "")).upper() != "JWT"
        or header.get("alg") != HEADER["alg"]
    ):
        raise JwtError("that JWT is not an ed25519-nkey JWT")
    if not isinstance(body, dict):
        raise JwtError("that JWT's claims are not an object")
    try:
        claims = cast("Claims[N]", Claims[model].model_validate(body))  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise JwtError(f"that JWT's claims are not valid ({where}: {first['msg']})") from exc
    if not is_public_key(claims.iss, _ISSUER_KIND[model]):
        raise JwtError("that JWT's issuer is not the right kind of key")
    subject_kind = _SUBJECT_KIND[model]
    if subject_kind is not None and not is_public_key(claims.sub, subject_kind):
        raise JwtError("that JWT's subject is not the right kind of key")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not verify(claims.iss, signing_input, _unb64(parts[2])):
        raise JwtError("that JWT's signature does not match its issuer")
    moment = time.time() if now is None else now
    if claims.exp is not None and claims.exp <= moment:
        raise JwtError("that JWT has expired")
    return claims


def peek(token: str) -> dict[str, Any]:
    """The claims of ``token`` without verifying anything (for error messages and logs)."""
    try:
        body = json.loads(_unb64(token.split(".")[1]))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise JwtError() from exc
    if not isinstance(body, dict):
        raise JwtError()
    return body


def decode_operator(token: str) -> OperatorClaims:
    return decode(token, OperatorNats)


def decode_account(token: str, *, trusted: set[str] | None = None) -> AccountClaims:
    """Decode an account JWT; with ``trusted``, its issuer must be one of those keys."""
    claims = decode(token, AccountNats)
    if trusted is not None and claims.iss not in trusted:
        raise JwtError("that account JWT is not signed by this hub's operator")
    return claims


def decode_user(token: str) -> UserClaims:
    return decode(token, UserNats)


def user_claims(
    user_public_key: str,
    *,
    name: str | None = None,
    expires: int | None = None,
    pub_allow: list[str] | None = None,
    sub_allow: list[str] | None = None,
    pub_deny: list[str] | None = None,
    sub_deny: list[str] | None = None,
    limits: tuple[int, int, int] = (UNLIMITED, UNLIMITED, UNLIMITED),
    bearer: bool = False,
) -> UserClaims:
    """Claims for a user: explicit limits (subs, data, payload); ``bearer``: the server
    takes the JWT alone, without a signature of its nonce (so the JWT is the secret)."""
    subs, data, payload = limits
    return UserClaims(
        sub=user_public_key,
        name=name,
        exp=expires,
        nats=UserNats(
            pub=Permission(allow=pub_allow, deny=pub_deny),
            sub=Permission(allow=sub_allow, deny=sub_deny),
            subs=subs,
            data=data,
            payload=payload,
            bearer_token=bearer,
        ),
    )
