"""Serving accounts: where a user's catalog servers answer from.

A user account only asks: its largest message is a control request
(``limits.ACCOUNT_PAYLOAD``), so nobody can flood the hub's services with large
messages. Chunks are large, so a user's catalog servers answer from a second account,
its *serving account*, which carries the catalog export and messages up to the hub's
``max_payload``, and imports nothing: what its users send reaches only the requesters
they answer. The user account imports its own catalogs from it, as friends do.

A serving account's key is made again from the operator signing key and the user
account's key (no state to keep or lose), and the hub signs its users: a catalog
server asks the account service for serving credentials (``accounts.serving``) for a
user key it made, and gets a JWT that expires after ``limits.SERVING_USER_TTL_S``.
"""

from __future__ import annotations

from natster import subjects
from natster.security import KeyKind, KeyPair
from natster.security import jwt as jwtlib


def serving_key(signing: KeyPair, account: str) -> KeyPair:
    """The serving account of ``account``, made again from the operator signing key."""
    return KeyPair.from_raw(KeyKind.ACCOUNT, signing.derive(f"serving account {account}"))


def serving_user_jwt(serving: KeyPair, user: str, *, name: str, expires: int) -> str:
    """A user of ``serving`` (a catalog server's connection), until ``expires``: it reads
    catalog requests, service discovery and its own inbox (no other server's replies)."""
    reads = [subjects.inbox_allowed(user), subjects.CATALOG_EXPORT, subjects.SERVICE_DISCOVERY]
    claims = jwtlib.user_claims(user, name=name, expires=expires, sub_allow=reads)
    return jwtlib.encode(claims, serving)
