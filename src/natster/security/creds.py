"""Creds files: a user JWT and its nkey seed, in the standard NATS text format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from natster.errors import CredsError

from .keys import KeyPair

_BLOCK = re.compile(
    r"-{3,}\s*BEGIN ([A-Z ]+?)\s*-{3,}\r?\n\s*([A-Za-z0-9_\-.=]+)\s*\r?\n\s*-{3,}\s*END \1\s*-{3,}"
)

_TEMPLATE = """-----BEGIN NATS USER JWT-----
{jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
{seed}
------END USER NKEY SEED------

*************************************************************
"""


@dataclass(frozen=True)
class Creds:
    jwt: str
    seed: str = field(repr=False)

    def format(self) -> str:
        return _TEMPLATE.format(jwt=self.jwt, seed=self.seed)

    @property
    def public_key(self) -> str:
        return KeyPair.from_seed(self.seed).public_key


def parse_creds(text: str) -> Creds:
    blocks = {name: value for name, value in _BLOCK.findall(text)}
    jwt = blocks.get("NATS USER JWT")
    seed = blocks.get("USER NKEY SEED")
    if not jwt or not seed:
        raise CredsError("a creds file needs a NATS USER JWT and a USER NKEY SEED block")
    return Creds(jwt=jwt, seed=seed)
