"""The browser's checks of what a peer sends, run in Chromium on hostile bytes.

The service worker decrypts a catalog's answers in the page's browser; js/src/check.js
is all that stands between a hostile catalog and the page. Its modules are served here
as they are written (tests/test_bundle.py pins the shipped bundle to them).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from .test_attacks import jpeg_claiming
from .test_web_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser

SOURCES = Path(__file__).resolve().parents[1] / "js" / "src"
ORIGIN = "https://checks.natster.test"


@pytest.fixture(scope="module")
def page() -> Iterator[playwright_sync.Page]:
    def serve(route: playwright_sync.Route) -> None:
        name = route.request.url.removeprefix(f"{ORIGIN}/")
        if name == "":
            body, kind = (
                '<script type="module">import * as c from "./check.js"; window.check = c;</script>',
                "text/html",
            )
        else:
            body, kind = (SOURCES / Path(name).name).read_text(), "text/javascript"
        route.fulfill(body=body, content_type=kind)

    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.route(f"{ORIGIN}/**", serve)
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("window.check !== undefined")
        yield page
        browser.close()


def _is_thumbnail(page: playwright_sync.Page, data: bytes) -> bool:
    script = "(b64) => window.check.isThumbnail(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))"
    return bool(page.evaluate(script, base64.b64encode(data).decode()))


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (jpeg_claiming(320, 180), True),
        (jpeg_claiming(1, 320), True),
        (jpeg_claiming(65500, 65500), False),  # 16 GB of pixels in a few hundred bytes
        (jpeg_claiming(321, 10), False),
        (jpeg_claiming(10, 321), False),
        (jpeg_claiming(0, 10), False),
        (b"\xff\xd8\xff" + bytes(64), False),  # passed the old check: starts as a JPEG
        (jpeg_claiming(8, 8) + bytes(64 * 1024), False),  # too many bytes
        (b"<svg/>", False),
    ],
)
def test_a_catalogs_thumbnail_is_shown_only_when_small(
    page: playwright_sync.Page, data: bytes, shown: bool
) -> None:
    assert _is_thumbnail(page, data) is shown
