"""``natster login CODE``: sign a browser in to this account, as a device of its own.

The browser (the hub's web app) made its own user key and xkey and offered their public
halves to the global service, which gave it the code its page shows. Here, on the
machine holding the account key, the code is *taken* (from then on it is this account's
alone), a user JWT is signed for the browser's key, with a device's rights and an
expiry (read-only and a day unless asked otherwise), and *granted*: sealed to the
browser's xkey, it reaches the page through the global service. The browser is recorded
in ``devices.json``: ``device ls`` shows it, ``device revoke`` cuts it off.
"""

from __future__ import annotations

import re

from natster import endpoints, limits, wire
from natster.errors import InviteError

from ._client import NatsterClient
from .devices import (
    Device,
    DeviceBook,
    Rights,
    check_new_device,
    grant_device,
    require_account_key,
)

__all__ = ["browser_name", "sign_in_browser"]

GLOBAL = "the hub's global service"


def signin_code(text: str) -> str:
    """``abcd efgh`` or ``ABCD-EFGH``: ``ABCD-EFGH``; anything else is refused here."""
    code = re.sub(r"[\s-]", "", text).upper()
    if not re.fullmatch(r"[A-Z2-9]{8}", code):
        raise InviteError(
            "a sign-in code is the 8 letters and digits the browser shows (like ABCD-EFGH)", 400
        )
    return f"{code[:4]}-{code[4:]}"


def browser_name(home_devices: dict[str, Device], label: str) -> str:
    """A free device name for a browser: its own label if it gave a usable one."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.")[:40] or "browser"
    if not base[0].isalnum():
        base = "browser-" + base
    name, n = base, 1
    while name in home_devices and home_devices[name].revoked_at is None:
        n += 1
        name = f"{base}-{n}"
    return name


async def sign_in_browser(
    client: NatsterClient,
    code_text: str,
    *,
    name: str | None = None,
    rights: Rights = "read-only",
    expires_s: float | None = limits.BROWSER_EXPIRES_S,
) -> Device:
    """Sign in the browser showing ``code_text``; the device it became."""
    code = signin_code(code_text)
    home = client.home
    require_account_key(home)  # a device cannot sign others in
    if name is not None:
        check_new_device(home, name)  # before the code is taken
    taken_data = await client.request(
        endpoints.SIGNIN_TAKE.local(),
        wire.SigninCodeRequest(code=code).model_dump_json().encode(),
        what=GLOBAL,
    )
    taken = endpoints.SIGNIN_TAKE.parse(taken_data, GLOBAL)
    name = name or browser_name(DeviceBook(home).load(), taken.label)
    check_new_device(home, name)
    grant, device = grant_device(
        home,
        name,
        user=taken.user,
        xkey=taken.xkey,
        rights=rights,
        expires_s=expires_s,
        host=taken.label,
        kind="browser",
    )
    body = wire.SigninGrantRequest(code=code, xkey=grant.xkey, sealed=grant.sealed)
    await client.request(
        endpoints.SIGNIN_GRANT.local(), body.model_dump_json().encode(), what=GLOBAL
    )
    return device
