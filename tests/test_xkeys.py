"""xkeys: the Go nkeys curve key encoding and ``xkv1`` seal format, pinned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from natster.errors import CryptoError, InvalidKey
from natster.security import KeyKind, XKey, xkeys
from natster.security._codec import decode_public, encode_seed

# RFC 7748 section 6.1: Alice's X25519 private key and the public key it gives.
RFC_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
RFC_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"

A_SEED = "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM"
A_PUBLIC = "XCHUBRNNW2HSKYSK4WZBJ2TWPJXMSTMCTU6XWXQ22G5G6PRBHAUF76G7"
B_PUBLIC = "XA2YA4WWGZMIBUNO5IZJVX4REE4DQUPNEGRI4O3V5FS5BUWNCZRFI2LE"
B_SEED = "SXACAIJCEMSCKJRHFAUSUKZMFUXC6MBRGIZTINJWG44DSOR3HQ6T4PY4AQ"
# a.seal(b"natster", to=b) with an all-zero nonce: xkv1 | nonce | box
SEALED_HEX = "786b7631" + "00" * 24 + "8e760f83bbcac3fd3efabbf850ccf9c0d102eb750392c2"


def test_rfc7748_key_derivation() -> None:
    key = XKey.from_seed(encode_seed(KeyKind.CURVE, bytes.fromhex(RFC_PRIVATE)))
    assert decode_public(key.public_key, KeyKind.CURVE)[1].hex() == RFC_PUBLIC
    assert key.public_key.startswith("X")
    assert key.seed.startswith("SX")


def test_pinned_keys_and_seal() -> None:
    a, b = XKey.from_seed(A_SEED), XKey.from_seed(B_SEED)
    assert a.seed == encode_seed(KeyKind.CURVE, bytes(range(32)))
    assert (a.public_key, b.public_key) == (A_PUBLIC, B_PUBLIC)
    sealed = a.channel(b.public_key).seal(b"natster", nonce=bytes(24))
    assert sealed.hex() == SEALED_HEX
    assert b.open(sealed, a.public_key) == b"natster"


def test_seal_open_both_ways() -> None:
    a, b = XKey.create(), XKey.create()
    sealed = a.seal(b"x" * 1000, b.public_key)
    assert sealed[:4] == b"xkv1"
    assert len(sealed) == 4 + 24 + 16 + 1000
    assert b.open(sealed, a.public_key) == b"x" * 1000
    assert a.open(b.seal(b"back", a.public_key), b.public_key) == b"back"


def test_fresh_nonce_every_time() -> None:
    a, b = XKey.create(), XKey.create()
    channel = a.channel(b.public_key)
    assert channel.seal(b"same") != channel.seal(b"same")


@given(st.integers(min_value=0, max_value=4 + 24 + 16 + 5 - 1), st.integers(1, 255))
def test_any_flipped_byte_is_detected(position: int, flip: int) -> None:
    a, b = XKey.from_seed(A_SEED), XKey.from_seed(B_SEED)
    sealed = bytearray(a.channel(b.public_key).seal(b"hello"))
    sealed[position] ^= flip
    with pytest.raises(CryptoError):
        b.open(bytes(sealed), a.public_key)


def test_wrong_sender_or_recipient_fails() -> None:
    a, b, c = XKey.create(), XKey.create(), XKey.create()
    sealed = a.seal(b"for b", b.public_key)
    with pytest.raises(CryptoError):
        c.open(sealed, a.public_key)
    with pytest.raises(CryptoError):
        b.open(sealed, c.public_key)


def test_associated_data_binds_position() -> None:
    a, b = XKey.create(), XKey.create()
    send, receive = a.channel(b.public_key), b.channel(a.public_key)
    chunk = send.seal(b"chunk 3", aad=b"transfer-1/3")
    assert receive.open(chunk, aad=b"transfer-1/3") == b"chunk 3"
    for wrong in (b"transfer-1/4", b"transfer-2/3"):
        with pytest.raises(CryptoError):
            receive.open(chunk, aad=wrong)


@given(st.binary(max_size=200))
def test_open_never_crashes(data: bytes) -> None:
    a, b = XKey.from_seed(A_SEED), XKey.from_seed(B_SEED)
    with pytest.raises(CryptoError):
        b.open(data, a.public_key)


def test_signing_seed_is_not_an_xkey() -> None:
    with pytest.raises(InvalidKey):
        XKey.from_seed("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU")


_A, _B = XKey.from_seed(A_SEED), XKey.from_seed(B_SEED)


@given(st.binary(max_size=5000), st.binary(max_size=40))
def test_in_place_forms_agree_with_seal_and_open(plain: bytes, aad: bytes) -> None:
    """The zero-copy forms used for transfer chunks make and take the same messages."""
    send, receive = _A.channel(_B.public_key), _B.channel(_A.public_key)
    sealed = send.seal_in_place(bytearray(xkeys.OVERHEAD) + plain, aad=aad)
    assert receive.open(bytes(sealed), aad=aad) == plain
    assert receive.open(sealed, aad=aad) == plain  # large NATS payloads come as bytearray
    out = bytearray(len(plain) + 3)  # a reused buffer may be larger than the message
    assert receive.open_into(send.seal(plain, aad=aad), out, aad=aad) == len(plain)
    assert out[: len(plain)] == plain
    out[:] = bytes(len(out))
    assert receive.open_into(sealed, out, aad=aad) == len(plain)
    assert out[: len(plain)] == plain


@given(st.binary(max_size=200))
def test_open_into_never_crashes(data: bytes) -> None:
    with pytest.raises(CryptoError):
        _B.channel(_A.public_key).open_into(data, bytearray(200))


def test_open_into_refuses_a_small_buffer_and_a_flipped_byte() -> None:
    send, receive = _A.channel(_B.public_key), _B.channel(_A.public_key)
    sealed = bytearray(send.seal(b"x" * 100, aad=b"t:1"))
    with pytest.raises(CryptoError):
        receive.open_into(bytes(sealed), bytearray(99), aad=b"t:1")
    sealed[-1] ^= 1
    with pytest.raises(CryptoError):
        receive.open_into(bytes(sealed), bytearray(100), aad=b"t:1")
