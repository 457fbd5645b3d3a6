"""Who may talk to the web UI: sessions from one-time codes, Host and CSRF checks.

- A session comes only from a one-time code the global service issued to this account
  (``natster login``); the cookie is HttpOnly and SameSite=Strict, its value random.
- The Host header must name this machine by IP address or ``localhost`` (or a name
  given with ``--host``): a DNS-rebinding page cannot reach the API under its own name.
- Requests that change something need the session's CSRF token in a header, and an
  ``Origin``, when sent, must be this server's own.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from natster import limits

COOKIE = "natster_session"
CSRF_HEADER = "x-natster-csrf"
SIGNED_OUT = """<!doctype html><meta charset="utf-8"><title>natster: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<body style="font-family:system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>natster</h1><p>{message}</p>
<p>On the machine running <code>natster web</code>, run <code>natster login</code> and
follow the link it prints (or scan its QR code).</p></body>"""


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    created: float


class Sessions:
    """Sessions live in memory: restarting ``natster web`` signs every browser out."""

    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}

    def create(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time())
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.get(token or "")
        if session is None:
            return None
        if time.time() - session.created > limits.WEB_SESSION_S:
            del self._by_token[session.token]
            return None
        return session


def host_allowed(host: str | None, port: int, names: frozenset[str]) -> bool:
    """``host`` (the Host header) names this server by IP, localhost or an allowed name."""
    if not host:
        return False
    try:
        parts = urlsplit(f"//{host}")
        hostname, given_port = parts.hostname, parts.port
    except ValueError:  # "[" or a port that is not a number
        return False
    if hostname is None or given_port not in (None, port):
        return False
    if hostname == "localhost" or hostname in names:
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def origin_allowed(origin: str | None, host: str) -> bool:
    """A browser's ``Origin`` on a state-changing request must be this very server."""
    if origin is None:
        return True  # not a browser's cross-site request (those always send Origin)
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host
