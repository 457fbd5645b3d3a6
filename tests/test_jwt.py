"""JWT v2 claims: pinned encoding, verification, tampering, Hypothesis on the decoder."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from natster.errors import CredsError, JwtError
from natster.hub.accounts import claims as hub_claims
from natster.security import Creds, KeyKind, KeyPair, jwt, parse_creds
from natster.security._codec import encode_seed

OPERATOR = KeyPair.from_seed(encode_seed(KeyKind.OPERATOR, bytes([9]) * 32))
ACCOUNT = KeyPair.from_seed(encode_seed(KeyKind.ACCOUNT, bytes([7]) * 32))
PINNED = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBM0lZN0pCRlpSV01RNlg2QzJDTFpFUDI1"
    "UDdTTzZBWFFBRFVGU1FGS0U1S1ZERVJMTlRRIiwiaWF0IjoxNzAwMDAwMDAwLCJpc3MiOiJPRDZST0pCWUxLUU1PVzNF"
    "N040TTJZQlBVSE1aRDdQTDY1VlJIUk1PMjRCT1ZTQlY1SDNCUVJaSSIsInN1YiI6IkFEVkVVM0RENEtPRkVDVjY2VklI"
    "V0VaT1lYNFpLUjNXVjI3TDQ2NFNJSVBPVTJJVUkzSkNaVzIyIiwibmFtZSI6InZlY3RvciIsIm5hdHMiOnsiaW1wb3J0"
    "cyI6W10sImV4cG9ydHMiOltdLCJsaW1pdHMiOnsic3VicyI6LTEsImRhdGEiOi0xLCJwYXlsb2FkIjotMSwiaW1wb3J0"
    "cyI6LTEsImV4cG9ydHMiOi0xLCJ3aWxkY2FyZHMiOnRydWUsImNvbm4iOi0xLCJsZWFmIjotMSwibWVtX3N0b3JhZ2Ui"
    "OjAsImRpc2tfc3RvcmFnZSI6MCwic3RyZWFtcyI6LTEsImNvbnN1bWVyIjotMSwibWF4X2Fja19wZW5kaW5nIjotMSwi"
    "bWVtX21heF9zdHJlYW1fYnl0ZXMiOjAsImRpc2tfbWF4X3N0cmVhbV9ieXRlcyI6MCwibWF4X2J5dGVzX3JlcXVpcmVk"
    "IjpmYWxzZX0sInR5cGUiOiJhY2NvdW50IiwidmVyc2lvbiI6Mn19.UyBk-bpf0qY_kyD2j93FAmReRdcDyJYNVKInIwxj"
    "GRRMxFgmSdg3bw42oY590OU2KK2l_RwePBtIUiIHPazoCQ"
)


def _claims() -> jwt.AccountClaims:
    return jwt.AccountClaims(sub=ACCOUNT.public_key, name="vector", nats=jwt.AccountNats())


def test_pinned_encoding() -> None:
    assert jwt.encode(_claims(), OPERATOR, iat=1_700_000_000) == PINNED


def test_header_and_field_names() -> None:
    token = jwt.encode(_claims(), OPERATOR)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "ed25519-nkey"}
    body = jwt.peek(token)
    assert body["nats"]["version"] == 2
    assert body["nats"]["type"] == "account"
    limits = body["nats"]["limits"]
    # REFERENCE.md: omitted limits mean 0; JetStream names are *_storage
    for key in ("subs", "data", "payload", "imports", "exports", "conn", "leaf"):
        assert limits[key] == -1
    assert "mem_storage" in limits
    assert "disk_storage" in limits
    assert "=" not in token


def test_round_trip_all_claim_types() -> None:
    user = KeyPair.create(KeyKind.USER)
    operator = jwt.OperatorClaims(
        sub=OPERATOR.public_key, nats=jwt.OperatorNats(signing_keys=[OPERATOR.public_key])
    )
    assert jwt.decode_operator(jwt.encode(operator, OPERATOR)).nats.signing_keys
    account = jwt.decode_account(jwt.encode(_claims(), OPERATOR), trusted={OPERATOR.public_key})
    assert account.sub == ACCOUNT.public_key
    assert account.iss == OPERATOR.public_key
    claims = jwt.user_claims(
        user.public_key, name="u", expires=int(time.time()) + 60, pub_allow=["a.>"]
    )
    decoded = jwt.decode_user(jwt.encode(claims, ACCOUNT))
    assert decoded.nats.pub.allow == ["a.>"]
    assert decoded.nats.bearer_token is False
    activation = jwt.ActivationClaims(
        sub=ACCOUNT.public_key, nats=jwt.ActivationNats(subject="x.>", kind="service")
    )
    assert jwt.decode(jwt.encode(activation, ACCOUNT), jwt.ActivationNats).nats.kind == "service"


# An authorization request nats-server 2.15.1 sent a short invite's doorstep (opened from
# its xkey seal): signed by the server's own key, about the doorstep account.
AUTH_REQUEST = (Path(__file__).parent / "vectors" / "nats_server_auth_request.jwt").read_text()


def test_nats_servers_authorization_request_decodes() -> None:
    iat = jwt.peek(AUTH_REQUEST)["iat"]
    request = jwt.decode(AUTH_REQUEST, jwt.AuthorizationRequestNats, now=iat)
    assert request.iss.startswith("N")
    assert request.iss == request.nats.server_id.id
    assert request.sub.startswith("A")
    assert request.aud == "nats-authorization-request"
    assert request.nats.user_nkey.startswith("U")
    assert request.nats.connect_opts.user == "_INBOX_2dfa3c7a785e5fae64c5219985290162"
    assert request.nats.connect_opts.password == "draft-ready-onion-tackle"
    assert request.nats.server_id.xkey is not None
    assert request.nats.server_id.xkey.startswith("X")
    with pytest.raises(JwtError, match="expired"):  # it lived for the server's auth timeout
        jwt.decode(AUTH_REQUEST, jwt.AuthorizationRequestNats)
    forged = AUTH_REQUEST.replace(
        AUTH_REQUEST.split(".")[1], AUTH_REQUEST.split(".")[1][:-4] + "AAAA"
    )
    with pytest.raises(JwtError):
        jwt.decode(forged, jwt.AuthorizationRequestNats, now=iat)


def test_authorization_response_and_callout_account_round_trip() -> None:
    user = KeyPair.create(KeyKind.USER)
    response = jwt.AuthorizationResponseClaims(
        sub=user.public_key, aud="NSERVER", nats=jwt.AuthorizationResponseNats(error="no")
    )
    body = jwt.peek(jwt.encode(response, ACCOUNT))
    assert body["aud"] == "NSERVER"
    assert body["nats"] == {"error": "no", "type": "authorization_response", "version": 2}
    with pytest.raises(JwtError, match="signed by an account key"):
        jwt.encode(response, OPERATOR)
    claims = _claims()
    claims.nats.authorization = jwt.ExternalAuthorization(
        auth_users=[user.public_key], allowed_accounts=[ACCOUNT.public_key], xkey="XKEY"
    )
    again = jwt.decode_account(jwt.encode(claims, OPERATOR))
    assert again.nats.authorization is not None
    assert again.nats.authorization.auth_users == [user.public_key]
    sentinel = jwt.user_claims(user.public_key, pub_deny=[">"], bearer=True)
    assert jwt.peek(jwt.encode(sentinel, ACCOUNT))["nats"]["bearer_token"] is True


def test_unknown_fields_survive_a_round_trip() -> None:
    claims = jwt.AccountClaims.model_validate(
        {"sub": ACCOUNT.public_key, "nats": {"type": "account", "version": 2, "tags": ["x"]}}
    )
    again = jwt.decode_account(jwt.encode(claims, OPERATOR))
    assert again.nats.model_dump()["tags"] == ["x"]


def test_wrong_signer_kind_is_refused() -> None:
    with pytest.raises(JwtError, match="signed by an operator key"):
        jwt.encode(_claims(), ACCOUNT)


def test_untrusted_issuer_is_refused() -> None:
    token = jwt.encode(_claims(), KeyPair.create(KeyKind.OPERATOR))
    with pytest.raises(JwtError, match="not signed by this hub"):
        jwt.decode_account(token, trusted={OPERATOR.public_key})


def test_expired_is_refused() -> None:
    user = KeyPair.create(KeyKind.USER)
    token = jwt.encode(jwt.user_claims(user.public_key, expires=int(time.time()) - 1), ACCOUNT)
    with pytest.raises(JwtError, match="expired"):
        jwt.decode_user(token)


def test_tampered_claims_are_detected() -> None:
    header, payload, signature = PINNED.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["nats"]["limits"]["conn"] = 5
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(JwtError, match="signature"):
        jwt.decode_account(f"{header}.{forged}.{signature}")


def test_wrong_claim_type_is_refused() -> None:
    with pytest.raises(JwtError):
        jwt.decode_user(PINNED)


@given(st.text(max_size=300))
def test_decoder_never_crashes_on_text(text: str) -> None:
    with pytest.raises(JwtError):
        jwt.decode_account(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_decoder_never_crashes_on_json(body: object) -> None:
    header = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"ed25519-nkey"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(JwtError):
        jwt.decode_account(f"{header}.{payload}.AAAA")


def test_check_account_refuses_lying_import() -> None:
    claims = hub_claims.user_account(
        ACCOUNT.public_key,
        "a",
        accounts=KeyPair.create(KeyKind.ACCOUNT).public_key,
        global_=KeyPair.create(KeyKind.ACCOUNT).public_key,
        serving=KeyPair.create(KeyKind.ACCOUNT).public_key,
    )
    hub_claims.check_account(claims)  # the standard claims pass
    other = KeyPair.create(KeyKind.ACCOUNT).public_key
    claims.nats.imports[0].subject = f"{other}.natster.accounts.>"
    with pytest.raises(JwtError, match="another account's key"):
        hub_claims.check_account(claims)


def test_creds_round_trip_and_errors() -> None:
    user = KeyPair.create(KeyKind.USER)
    token = jwt.encode(jwt.user_claims(user.public_key), ACCOUNT)
    text = Creds(jwt=token, seed=user.seed).format()
    assert text.startswith("-----BEGIN NATS USER JWT-----\n")
    parsed = parse_creds(text)
    assert parsed.jwt == token
    assert parsed.seed == user.seed
    assert parsed.public_key == user.public_key
    assert user.seed not in repr(parsed)
    with pytest.raises(CredsError):
        parse_creds("-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n")


@given(st.text(max_size=500))
def test_creds_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(CredsError):
        parse_creds(text)
