"""TLS to the hub: whom a connection trusts, and the pin check that joining starts with.

Every natster connection to a ``tls://`` hub starts TLS before a single NATS byte
(nats-server's ``handshake_first``): nats-py would otherwise read the server's INFO in
the clear and send its CONNECT in the clear too if a man in the middle said TLS was not
required. (The hub lets tools that read INFO first in after a second: natster._nats
connects again if its handshake came later than that.) The server's chain must lead to
the CA this machine stored when it joined (the one the invite pinned), and name the host
connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from natster import limits
from natster._urls import split_urls
from natster.errors import ConnectionFailed, UntrustedHub

DER = 2  # _ssl.ENCODING_DER: how Python 3.11's chain objects give their bytes


@dataclass(frozen=True)
class Trust:
    """What a connection to the hub believes: ``ca_pem`` alone (``None``: this system's
    roots), and ``hostname``, the name to check when it is not the URL's host (the hub's
    own services reach it at 127.0.0.1 under an operator's certificate for its name)."""

    ca_pem: bytes | None = None
    hostname: str | None = None

    def context(self) -> ssl.SSLContext:
        return _context_for(self.ca_pem)


@functools.lru_cache(maxsize=32)
def _context_for(ca_pem: bytes | None) -> ssl.SSLContext:
    """One context per CA, shared by the connections that trust it (loading a CA took
    ~0.4 ms a connection, the system's roots far more; nothing changes a context after)."""
    cadata = ca_pem.decode("ascii") if ca_pem else None
    context = ssl.create_default_context(cadata=cadata)  # only that CA when given
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def fingerprint(der: bytes) -> str:
    """A certificate's pin: the sha256 of its DER bytes, in hex."""
    return hashlib.sha256(der).hexdigest()


def der_to_pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def _chain_of(url: str, timeout: float) -> list[bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 4222
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # looked at, not trusted: the pin decides
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        public = getattr(tls, "get_unverified_chain", None)  # Python 3.13 on
        if public is not None:
            return [bytes(der) for der in public()]
        chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
        return [cert.public_bytes(DER) for cert in chain]


async def pinned_ca(url: str, pin: str, timeout: float = limits.CONNECT_TIMEOUT_S) -> bytes:
    """The CA certificate (PEM) in the chain the hub at ``url`` presents whose sha256 is
    ``pin`` (or starts with it: a short invite carries the first 80 bits). Only a TLS
    handshake is made: nothing of natster's is sent. Of a cluster's URLs, the first node
    that answers is asked (any node that answers falsely stops it)."""
    urls = split_urls(url)
    for at in urls[:-1]:
        with contextlib.suppress(ConnectionFailed):
            return await _pinned_ca(at, pin, timeout)
    return await _pinned_ca(urls[-1], pin, timeout)


async def _pinned_ca(url: str, pin: str, timeout: float) -> bytes:
    try:
        chain = await asyncio.wait_for(asyncio.to_thread(_chain_of, url, timeout), timeout + 1)
    except ssl.SSLError as exc:
        raise UntrustedHub(
            f"the hub at {url} does not speak TLS as natster expects: {exc}"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise ConnectionFailed(f"cannot reach the hub at {url}: {exc}") from exc
    if len(pin) < limits.SHORT_PIN_CHARS:  # a pin this short would be easy to forge
        raise UntrustedHub("that CA pin is too short to trust: ask for a new invite")
    for der in chain:
        if fingerprint(der).startswith(pin.lower()):
            return der_to_pem(der)
    got = ", ".join(fingerprint(der) for der in chain) or "no certificate"
    raise UntrustedHub(
        "this invite's pin does not match the hub's certificate: check the invite for a "
        f"typo, or someone may be in between (the invite pins {pin.lower()}; the hub at "
        f"{url} presented {got}); nothing was sent"
    )
