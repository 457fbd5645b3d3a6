"""People on the hub: a name or key turned into a member, and how tables name them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from natster import wire
from natster.errors import AmbiguousPerson, CatalogError, UnknownPerson
from natster.names import look_alikes, person_name
from natster.security import KeyKind, is_public_key

from ._client import NatsterClient

__all__ = ["label", "look_alike_accounts", "person"]

_SHOWN = 8  # candidates named in an error


async def person(client: NatsterClient, who: str, *, others: bool = True) -> wire.Person:
    """The member a name or account key names (``others``: not this account).

    A key is taken as it is (its name filled in when the hub knows it); a name must be
    one member's exactly, case and spacing aside, or the error lists the candidates.
    """
    who = who.strip()
    if is_public_key(who, KeyKind.ACCOUNT):
        found = [p for p in (await client.people(who)).people if p.account == who]
        chosen = found[0] if found else wire.Person(account=who, name=who[:12])
    else:
        if not who:
            raise UnknownPerson("name someone: a member's name or account key")
        matches = (await client.people(who)).people
        exact = [p for p in matches if person_name(p.name) == person_name(who)]
        if len(exact) > 1:
            listed = ", ".join(f"{p.name} ({p.account})" for p in exact[:_SHOWN])
            raise AmbiguousPerson(
                f"several members are named {who!r}: {listed}; use the account key"
            )
        if not exact:
            if not matches:  # a typo: names that look alike
                everyone = {p.name: p for p in (await client.people()).people}
                close = difflib.get_close_matches(who, everyone, n=_SHOWN, cutoff=0.6)
                matches = [everyone[name] for name in close]
            raise UnknownPerson(_unknown(who, matches))
        chosen = exact[0]
    if others and chosen.account == client.account:
        raise CatalogError("that is your own account")
    return chosen


def _unknown(who: str, matches: list[wire.Person]) -> str:
    if not matches:
        return f"nobody on this hub is named {who!r}: see `natster people`"
    names = ", ".join(p.name for p in matches[:_SHOWN])
    more = ", ..." if len(matches) > _SHOWN else ""
    return f"nobody on this hub is named {who!r}; did you mean: {names}{more}"


def label(account: str, name: str, me: str, alike: frozenset[str] = frozenset()) -> str:
    """How a table names an account: "me", its name (with the start of its key when it
    is in ``alike``: its name looks like another's), or the start of its key."""
    if account == me:
        return "me"
    if not name:
        return f"{account[:12]}…"
    return f"{name} ({account[:8]}…)" if account in alike else name


def look_alike_accounts(named: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The accounts among (account, name) pairs whose names look like another account's
    (names.look_alikes): the hub refuses such names now, but names from before that
    rule, or from another hub's rules, may still meet. A person then tells them apart
    by the key beside the name."""
    holders: dict[str, set[str]] = {}
    for account, name in dict(named).items():
        for form in look_alikes(name) if name else ():
            holders.setdefault(form, set()).add(account)
    return frozenset(a for accounts in holders.values() if len(accounts) > 1 for a in accounts)
