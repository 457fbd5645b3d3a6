"""The hub web app's part in signing a browser in: a sign-in page's guest JWT (for the
key the page made; docs/protocol.md "Signing a browser in"), at most a few a minute per
address, and the QR code of its sign-in code."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from natster import limits, wire
from natster._rate import RateLimit, address_of
from natster.errors import Refused
from natster.hub.entry.invites import signin_guest
from natster.security import KeyPair

from ._hub_site import COMMON


@dataclass(frozen=True)
class Guests:
    """Who signs sign-in pages' guest JWTs (the signin account's key), and how often
    one address may ask."""

    signer: KeyPair
    rate: RateLimit


class _GuestRequest(wire.Request):
    user: str = wire.UserKeyField


def _guests(request: Request) -> Guests:
    guests: Guests = request.app.state.guests
    return guests


async def guest(request: Request) -> Response:
    guests = _guests(request)
    guests.rate.spend(address_of(request.client.host) if request.client else "?")
    body = bytearray()
    async for piece in request.stream():  # never more than a request may be
        body += piece
        if len(body) > limits.MAX_REQUEST_BYTES:
            raise Refused(f"request too large (over {limits.MAX_REQUEST_BYTES} bytes)", 413)
    offer = wire.parse_request(bytes(body), _GuestRequest)
    expires = int(time.time()) + limits.SIGNIN_TTL_S + 60
    jwt = signin_guest(guests.signer, offer.user, expires)
    return JSONResponse({"jwt": jwt}, headers={**COMMON, "Cache-Control": "no-store"})


async def qr(request: Request) -> Response:
    code = request.query_params.get("code", "")
    if not re.fullmatch(wire.SIGNIN_CODE, code):
        raise Refused("that is not a sign-in code", 400)
    svg = io.BytesIO()
    segno.make(f"natster login {code}", error="m").save(svg, kind="svg", scale=6, border=2)
    return Response(
        svg.getvalue(), media_type="image/svg+xml", headers={**COMMON, "Cache-Control": "no-store"}
    )


routes = [
    Route("/signin/guest", guest, methods=["POST"]),
    Route("/signin/qr.svg", qr),
]
