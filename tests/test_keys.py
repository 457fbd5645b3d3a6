"""nkeys encoding and signing: pinned vectors, round trips, Hypothesis on decoders."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from natster.errors import InvalidKey
from natster.security import KeyKind, KeyPair, decode_public, is_public_key, verify
from natster.security._codec import crc16, decode_seed, encode_public, encode_seed

# The user nkey vector shared by the nkeys implementations in Go, Ruby, Elixir, D...
VECTOR_SEED = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
VECTOR_PUBLIC = "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L"
VECTOR_NONCE_SIG = (
    "ZaAiVDgB5CeYoXoQ7cBCmq+ZllzUnGUoDVb8C7PilWvCs8XKfUchAUhz2P4BYAF++Dg3w05CqyQFRDiGL6LrDw=="
)


def test_public_vector_from_other_implementations() -> None:
    pair = KeyPair.from_seed(VECTOR_SEED)
    assert pair.public_key == VECTOR_PUBLIC
    assert pair.kind is KeyKind.USER
    assert base64.b64encode(pair.sign(b"PXoWU7zWAMt75FY")).decode() == VECTOR_NONCE_SIG


def test_pinned_account_key() -> None:
    seed = encode_seed(KeyKind.ACCOUNT, bytes([7]) * 32)
    assert seed == "SAAAOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOB6O4U"
    assert KeyPair.from_seed(seed).public_key == (
        "ADVEU3DD4KOFECV66VIHWEZOYX4ZKR3WV27L464SIIPOU2IUI3JCZW22"
    )


def test_crc16_xmodem() -> None:
    assert crc16(b"123456789") == 0x31C3


@given(st.binary(max_size=128))
def test_crc16_is_xmodem_bit_by_bit(data: bytes) -> None:
    """binascii's CRC-CCITT from 0 is CRC-16/XMODEM as its definition computes it."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    assert crc16(data) == crc


@pytest.mark.parametrize("kind", [KeyKind.OPERATOR, KeyKind.ACCOUNT, KeyKind.USER])
def test_create_sign_verify(kind: KeyKind) -> None:
    pair = KeyPair.create(kind)
    assert pair.public_key[0] == kind.letter
    assert pair.seed.startswith("S" + kind.letter)
    signature = pair.sign(b"hello")
    assert verify(pair.public_key, b"hello", signature)
    assert not verify(pair.public_key, b"hellO", signature)
    assert not verify(KeyPair.create(kind).public_key, b"hello", signature)
    assert is_public_key(pair.public_key, kind)
    assert "seed" not in repr(pair) or pair.seed not in repr(pair)


def test_kind_is_enforced() -> None:
    account = KeyPair.create(KeyKind.ACCOUNT)
    with pytest.raises(InvalidKey, match="expected user key"):
        decode_public(account.public_key, KeyKind.USER)
    assert not is_public_key(account.public_key, KeyKind.OPERATOR)


def test_typo_is_caught_by_checksum() -> None:
    public = KeyPair.create(KeyKind.ACCOUNT).public_key
    flipped = public[:10] + ("A" if public[10] != "A" else "B") + public[11:]
    with pytest.raises(InvalidKey):
        decode_public(flipped)


@given(st.binary(min_size=32, max_size=32), st.sampled_from(list(KeyKind)))
def test_round_trip(raw: bytes, kind: KeyKind) -> None:
    assert decode_public(encode_public(kind, raw)) == (kind, raw)
    assert decode_seed(encode_seed(kind, raw)) == (kind, raw)


@given(st.text(max_size=120))
def test_decoders_never_crash(text: str) -> None:
    for decoder in (decode_public, decode_seed, KeyPair.from_seed):
        with contextlib.suppress(InvalidKey):
            decoder(text)
    assert is_public_key(text, KeyKind.ACCOUNT) in (True, False)
