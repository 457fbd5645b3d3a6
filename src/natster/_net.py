"""This machine on its network."""

from __future__ import annotations

import contextlib
import ipaddress
import socket


def url_host(host: str) -> str:
    """``host`` as it stands in a URL: an IPv6 address in brackets, anything else as is."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    return host


def is_loopback(host: str) -> bool:
    """``host`` (a name or an address) reaches this machine only."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    """A port nothing listens on at ``host`` now (the system's pick)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def lan_address() -> str:
    """This machine's address on its network (no packet is sent), else 127.0.0.1."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP connect only picks a route
        return str(probe.getsockname()[0])
    return "127.0.0.1"
