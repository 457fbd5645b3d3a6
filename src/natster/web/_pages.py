"""The pages: sign-in from a one-time link, the single-page UI and its static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from natster import errors, limits

from ._guard import COOKIE, SIGNED_OUT
from ._state import State

STATIC = resources.files("natster.web") / "static"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login(state: State, code: str = Query(max_length=64)) -> Response:
    try:
        await state.client.otc_claim(code, client="natster web")
    except errors.RemoteError as exc:
        page = SIGNED_OUT.format(message="That sign-in link was already used or expired.")
        return HTMLResponse(page, status_code=401 if exc.status in (403, 404) else 502)
    session = state.sessions.create()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=limits.WEB_SESSION_S,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


@router.get("/")
async def index() -> HTMLResponse:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})
