"""The hub's TLS: its own certificate authority and the server certificate it issues.

On first start a hub makes a private CA (ECDSA P-256, ten years) and a server
certificate under it for the hub's names and addresses (one year, renewed on start when
less than a third is left, or on ``natster hub tls rotate``). Invites pin the CA by the
sha256 of its certificate, so a new server certificate under the same CA is trusted by
every user at once. Layout under ``--dir``::

    tls/ca.pem        the CA certificate (public: users store it at ``init``)
    tls/ca.key        the CA key (0600): whoever has it can impersonate the hub
    tls/server.pem    the server certificate, then the CA's (the chain nats-server sends)
    tls/server.key    the server key (0600)

An operator with a certificate of their own (``--tls-cert``/``--tls-key``, e.g. from a
public CA) uses it instead; invites then pin the CA that issued it.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from natster import _tls
from natster._fs import PUBLIC_MODE, ensure_dir, write_atomic
from natster._net import lan_address
from natster.errors import HubError

CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_WHEN_LEFT = 1 / 3  # of the server certificate's life
RENEW_CHECK_S = 12 * 3600  # how often a running hub looks
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Where a hub's TLS material lives; ``own`` is False for an operator's certificate."""

    cert: Path  # the chain nats-server sends
    key: Path
    ca: Path  # what clients trust (and invites pin)
    own: bool


def own_files(folder: Path) -> TlsFiles:
    return TlsFiles(folder / "server.pem", folder / "server.key", folder / "ca.pem", own=True)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise HubError(f"the hub's CA in {folder} is missing or damaged: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise HubError(f"the hub's CA key in {folder} is not an ECDSA key")
    return cert, key


def make_ca(folder: Path, name: str = "natster hub") -> None:
    """A new CA (replacing nothing: only where none exists)."""
    ensure_dir(folder)
    if (folder / "ca.key").exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _own_anchor(key, f"{name} CA", CA_DAYS)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(folder / "ca.key", _key_pem(key))  # the key first: the cert names it
    write_atomic(folder / "ca.pem", _cert_pem(cert), PUBLIC_MODE)


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def self_signed(names: list[str], common_name: str, days: int) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``names`` (its own trust anchor: who is handed it
    trusts it and nothing else), and its key, in PEM; for a catalog server's direct
    endpoint, made for one run."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _own_anchor(key, common_name, days)
        .add_extension(_san(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def _own_anchor(
    key: ec.EllipticCurvePrivateKey, common_name: str, days: int
) -> x509.CertificateBuilder:
    """A certificate signed by its own ``key``, a trust anchor for ``days`` (the hub's CA,
    or a direct endpoint's certificate): what each adds is theirs."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    )


def issue_server(folder: Path, names: list[str]) -> None:
    """A new server key and certificate for ``names`` under the hub's CA (atomically
    replacing the old pair: nats-server reads them again on reload)."""
    ca_cert, ca_key = _load_ca(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # clientAuth too: a node presents the same certificate on the routes it dials
        .add_extension(x509.ExtendedKeyUsage(_USAGES), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = own_files(folder)
    write_atomic(files.key, _key_pem(key))
    write_atomic(files.cert, _cert_pem(cert) + _cert_pem(ca_cert), PUBLIC_MODE)


_USAGES = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def needs_renewal(folder: Path, names: list[str]) -> bool:
    """No server certificate, one for other names or uses (a node's routes need client
    authentication), or one with a third of its life left."""
    try:
        cert = x509.load_pem_x509_certificate(own_files(folder).cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return True
    if set(_san(names)) - set(san) or set(_USAGES) - set(usages):
        return True
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - _now() < life * RENEW_WHEN_LEFT


def ensure_own(folder: Path, names: list[str]) -> TlsFiles:
    """The hub's own CA and a current server certificate for ``names``."""
    make_ca(folder)
    if needs_renewal(folder, names):
        issue_server(folder, names)
    return own_files(folder)


def operator_files(cert: Path, key: Path, ca: Path | None) -> TlsFiles:
    """An operator's certificate: ``ca`` is what clients should trust (else the last
    certificate of the chain in ``cert``, its issuer)."""
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
        key.read_bytes()
    except (OSError, ValueError) as exc:
        raise HubError(f"cannot read the TLS certificate or key: {exc}") from exc
    if ca is None:
        if len(chain) < 2:
            raise HubError(
                f"{cert} holds no issuer certificate: put the chain in it, or pass --tls-ca"
            )
        return TlsFiles(cert, key, cert, own=False)
    return TlsFiles(cert, key, ca, own=False)


def ca_pin(files: TlsFiles) -> str:
    """What invites carry: the sha256 of the trusted CA certificate (DER)."""
    try:
        certs = x509.load_pem_x509_certificates(files.ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise HubError(f"cannot read the CA certificate {files.ca}: {exc}") from exc
    return _tls.fingerprint(certs[-1].public_bytes(serialization.Encoding.DER))


def ca_pem(files: TlsFiles) -> bytes:
    """The trusted CA certificate alone, in PEM."""
    certs = x509.load_pem_x509_certificates(files.ca.read_bytes())
    return _cert_pem(certs[-1])


class TlsFacts(TypedDict):
    ca_pin: str
    names: list[str]
    not_after: str
    serial: str
    own: bool


def describe(files: TlsFiles) -> TlsFacts:
    """What ``hub tls show`` prints: the pin, and the server certificate's names and end."""
    try:
        cert = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    except (OSError, ValueError) as exc:
        raise HubError(f"cannot read the server certificate {files.cert}: {exc}") from exc
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name.value) for name in san]
    except x509.ExtensionNotFound:
        names = []
    return {  # `hub tls show --json`: stable keys
        "ca_pin": ca_pin(files),
        "names": names,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
        "own": files.own,
    }


def web_names(files: TlsFiles | None, host: str, url: str | None) -> list[str]:
    """The names the hub's web app answers to (its page's Host, its WebSocket's Origin):
    those its certificate holds, less wildcards, and the host invites carry (``url``)."""
    names = describe(files)["names"] if files is not None else default_names(host, url)
    advertised = urlsplit(url).hostname if url else None
    names = [*([advertised] if advertised else []), *names]
    return list(dict.fromkeys(name for name in names if "*" not in name))


def default_names(host: str, advertise: str | None) -> list[str]:
    """The names a hub's certificate holds: the advertised host, this machine's names,
    loopback, and the listen address when it is a specific one."""
    names: list[str] = []
    if advertise:
        advertised = urlsplit(advertise).hostname
        if advertised:
            names.append(advertised)
    if host not in ("", "0.0.0.0", "::"):  # noqa: S104
        names.append(host)
    else:  # every address: the one others on the network reach it by
        names.append(lan_address())
    names += [socket.gethostname(), *LOCAL_NAMES]
    return list(dict.fromkeys(names))
