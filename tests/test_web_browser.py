"""The web UI in a real browser: Debian's Chromium, driven by Playwright.

Playwright never downloads a browser here: it drives /usr/bin/chromium. Set
NATSTER_SCREENSHOTS=DIR to keep screenshots of the main screens (`make screenshots`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import playwright.sync_api as playwright_sync
import pytest

from natster import limits

from .webworld import World, make_world, run

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("NATSTER_CHROMIUM", "/usr/bin/chromium")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's)", allow_module_level=True)

ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SHOTS = os.environ.get("NATSTER_SCREENSHOTS")
CONSOLE_ERRORS: list[str] = []  # what the page logged as errors, across the module


def _console(kind: str, text: str) -> None:
    if kind == "error":
        CONSOLE_ERRORS.append(text)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from make_world(tmp_path_factory.mktemp("web-browser"))


@pytest.fixture(scope="module")
def page(world: World) -> Iterator[playwright_sync.Page]:
    yield from signed_in_page(world)


def signed_in_page(world: World) -> Iterator[playwright_sync.Page]:
    """A Chromium page signed in to bob's `natster web`, on the library, until closed."""
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(
            viewport={"width": 1100, "height": 760}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: _console(m.type, m.text))
        page.goto(world.login_link())
        page.wait_for_selector("h1:text('Library')")
        yield page
        browser.close()


def shot(page: playwright_sync.Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def until(page: playwright_sync.Page, expression: str, timeout: float = 15.0) -> float:
    """Poll ``expression`` in the page until true; the seconds it took.

    Not ``page.wait_for_function``: that evaluates strings inside the page, which the
    UI's Content-Security-Policy forbids (and the tests keep that policy on).
    """
    began = time.monotonic()
    while not page.evaluate(expression):
        if time.monotonic() - began > timeout:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.02)
    return time.monotonic() - began


def dot(world: World, catalog: str) -> str:
    return f".card [data-dot='{world.alice_key}/{catalog}']"


def open_file(page: playwright_sync.Page, world: World, path: str, base: str = "") -> None:
    """Open alice's file at ``path`` in the viewer from its folder, on ``base`` (the hub's
    app) or ``natster web``."""
    folder, _, name = path.rpartition("/")
    page.goto(f"{base or world.url}/#/c/{world.alice_key}/demo?path={quote(folder)}")
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_selector("dialog[open]")


def close_viewer(page: playwright_sync.Page) -> None:
    """Escape closes the viewer, and the URL goes back to the folder (Back, in effect)."""
    page.keyboard.press("Escape")
    until(page, "!document.querySelector('dialog').open && !location.hash.includes('open=')")


def plays_then_seeks_to_80_percent(page: playwright_sync.Page) -> float:
    """The open video plays; the seconds from a jump to 80% until it plays there."""
    until(page, "document.querySelector('video').currentTime > 0.3")
    target = page.evaluate(
        "() => { const v = document.querySelector('video');"
        " const t = v.duration * 0.8; v.currentTime = t; return t; }"
    )
    return until(page, f"document.querySelector('video').currentTime > {target} + 0.05", 5)


def test_library_shows_the_shared_catalog_online(world: World, page: playwright_sync.Page) -> None:
    page.goto(world.url + "/#/")
    page.wait_for_selector(f"{dot(world, 'demo')}.online")
    card = page.locator(".card[data-catalog='demo']")
    assert "Alice's media" in card.inner_text()
    assert "from alice" in card.inner_text()
    assert page.locator(".card[data-inbox='extra']").count() == 1  # shared, not imported
    text = page.inner_text("body")  # a person reads names, not keys
    assert not re.search(r"\b[ANUOXSCP][A-Z2-7]{55}\b", text), text
    shot(page, "library")


def test_catalog_tree_and_search(world: World, page: playwright_sync.Page) -> None:
    page.goto(f"{world.url}/#/c/{world.alice_key}/demo")
    page.wait_for_selector("tr.folder")
    folders = page.locator("tr.folder").evaluate_all("rows => rows.map(r => r.dataset.folder)")
    assert folders == ["documents", "music", "pictures", "videos"]  # the top level only
    shot(page, "catalog")
    page.get_by_role("searchbox", name="Search this catalog").fill("sunset")
    page.get_by_role("searchbox", name="Search this catalog").press("Enter")
    until(page, "document.querySelectorAll('[data-path]').length === 1")
    assert page.locator("[data-path]").get_attribute("data-path") == "pictures/sunset.png"


def test_video_plays_and_seeks(world: World, page: playwright_sync.Page) -> None:
    open_file(page, world, "videos/test-pattern.mp4")
    took = plays_then_seeks_to_80_percent(page)
    shot(page, "video")
    assert took < 1.0, f"seeking to 80% took {took:.2f} s to play"
    close_viewer(page)


def test_audio_plays(world: World, page: playwright_sync.Page) -> None:
    open_file(page, world, "music/a-note.mp3")
    until(page, "document.querySelector('audio').currentTime > 0.3")
    close_viewer(page)


def test_the_next_song_of_the_album_plays_when_one_ends(
    world: World, page: playwright_sync.Page
) -> None:
    """a-note.mp3 is track 1 of its album; 0-next.mp3, before it by name, is track 2:
    when a-note ends, 0-next plays (the album's order, not the folder's)."""
    from mutagen.easyid3 import EasyID3

    second = world.media / "music" / "0-next.mp3"
    shutil.copyfile(world.media / "music" / "a-note.mp3", second)
    tags = EasyID3(second)  # type: ignore[no-untyped-call]
    tags["tracknumber"], tags["title"] = "2/2", "The Next"
    tags.save()
    try:
        folder = f"{world.url}/api/catalogs/{world.alice_key}/demo/folder?path=music"

        def tagged() -> bool:  # the server saw it come and read its tags
            files = {e["path"]: e for e in page.request.get(folder).json()["entries"]}
            media = files.get("music/0-next.mp3", {}).get("media") or {}
            return bool(media.get("track") == 2)

        deadline = time.monotonic() + 30
        while not tagged():
            assert time.monotonic() < deadline, "the new song's tags were not read"
            time.sleep(0.3)
        row = "document.querySelector('[data-path=\"music/0-next.mp3\"]')"
        while True:  # and the page's own listing has them (else the folder's order rules):
            # facts read after a file came change no revision, so a loaded page keeps the
            # listing it had (a known gap); a reload asks again
            page.goto(f"{world.url}/#/c/{world.alice_key}/demo?path=music")
            page.reload()
            page.wait_for_selector("[data-path]")
            if page.evaluate(f"({row} || {{}}).textContent?.includes('Test Tones')"):
                break
            assert time.monotonic() < deadline, page.inner_text("body")
            time.sleep(0.5)
        open_file(page, world, "music/a-note.mp3")
        until(page, "document.querySelector('audio').duration > 1")
        page.evaluate(
            "(a => { a.currentTime = a.duration - 0.3; })(document.querySelector('audio'))"
        )
        until(page, "document.querySelector('#viewer-title').textContent === '0-next.mp3'", 15.0)
        assert "The Next" in page.locator(".song .tags").inner_text()
        until(page, "document.querySelector('audio').currentTime > 0.3")  # and it plays
        close_viewer(page)
    finally:
        second.unlink()


def _open_with_facts(page: playwright_sync.Page, world: World, path: str, fact: str) -> None:
    """Open ``path`` once the owner's machine has read its facts (in the background, at
    the server's start): the listing carries them from then on."""
    deadline = time.monotonic() + 30
    while True:
        open_file(page, world, path)
        if page.evaluate(fact) or time.monotonic() > deadline:
            return
        close_viewer(page)
        time.sleep(0.5)


def test_a_songs_tags_are_shown_and_found(world: World, page: playwright_sync.Page) -> None:
    _open_with_facts(page, world, "music/a-note.mp3", "!!document.querySelector('.song .tags')")
    tags = page.locator(".song .tags").inner_text()
    assert "A Note" in tags
    assert "The Sines" in tags
    assert "Test Tones, 2021 · track 1" in tags
    close_viewer(page)
    page.get_by_role("searchbox", name="Search this catalog").fill("sines 2021")
    page.get_by_role("searchbox", name="Search this catalog").press("Enter")
    until(page, "document.querySelectorAll('[data-path]').length === 1")
    assert page.locator("[data-path]").get_attribute("data-path") == "music/a-note.mp3"


def test_a_photo_zooms_and_says_when_it_was_taken(world: World, page: playwright_sync.Page) -> None:
    # facts beyond the file's size (which is there from the start): the photo's own
    facts = "document.querySelectorAll('dl.exif dt').length > 1"
    _open_with_facts(page, world, "pictures/sea.jpg", facts)
    until(page, "document.querySelector('.photo img').naturalWidth === 640")
    info = page.locator("dl.exif")
    assert not info.is_visible()
    page.get_by_role("button", name="Info").click()
    shown = info.inner_text()
    assert "2019-08-14 18:30:05" in shown
    assert "FUJIFILM X-T30" in shown
    assert "640 × 400 pixels" in shown
    frame = "document.querySelector('.photo')"
    fitted = page.evaluate(f"{frame}.querySelector('img').getBoundingClientRect().width")
    page.get_by_role("button", name="Zoom").click()
    until(page, f"{frame}.classList.contains('zoomed')")
    wide = page.evaluate(f"{frame}.querySelector('img').getBoundingClientRect().width")
    assert wide >= 2 * fitted
    assert page.evaluate(f"{frame}.scrollWidth > {frame}.clientWidth")  # to pan around
    page.locator(".photo").dblclick()  # and back to the whole picture
    until(page, f"!{frame}.classList.contains('zoomed')")
    shot(page, "photo")
    close_viewer(page)


def test_image_and_text_render(world: World, page: playwright_sync.Page) -> None:
    open_file(page, world, "pictures/sunset.png")
    until(page, "document.querySelector('#viewer-body img').naturalWidth === 640")
    shot(page, "image")
    close_viewer(page)
    open_file(page, world, "documents/notes/welcome.txt")
    until(page, "document.querySelector('#viewer-body pre').textContent.includes('Hello')")
    close_viewer(page)


def test_download_bytes_match(world: World, page: playwright_sync.Page) -> None:
    open_file(page, world, "pictures/sea.jpg")
    with page.expect_download() as info:
        page.locator("#viewer-download").click()
    download = info.value
    assert download.suggested_filename == "sea.jpg"
    got = Path(download.path()).read_bytes()
    expected = (world.media / "pictures" / "sea.jpg").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(expected).hexdigest()
    close_viewer(page)


def test_import_from_the_inbox(world: World, page: playwright_sync.Page) -> None:
    page.goto(world.url + "/#/")
    page.get_by_role("button", name="Import extra").click()
    page.wait_for_selector(".card[data-catalog='extra']")
    assert page.locator(".card[data-inbox='extra']").count() == 0


def test_decline_from_the_inbox(world: World, page: playwright_sync.Page, tmp_path: Path) -> None:
    (tmp_path / "spare.txt").write_text("more")
    run("catalog", "new", "spare", "", str(tmp_path), home=world.alice)
    run("catalog", "share", "spare", "bob", home=world.alice)
    page.goto(world.url + "/#/")
    page.reload()
    assert page.locator(".card[data-inbox='hub']").count() == 0  # the hub serves none
    page.get_by_role("button", name="Decline spare").click()
    page.wait_for_selector(".card[data-inbox='spare']", state="detached")
    inbox = run("catalog", "inbox", "--json", home=world.bob)
    assert "spare" not in [row["catalog"] for row in json.loads(inbox)]


def test_share_by_name_and_unshare_after_a_question_that_names_them(
    world: World, page: playwright_sync.Page, tmp_path: Path
) -> None:
    (tmp_path / "note.txt").write_text("bob's")
    run("catalog", "new", "notes", "", str(tmp_path), home=world.bob)
    page.goto(world.url + "/#/")
    page.reload()  # a catalog made on the command line: no event tells the page
    card = page.locator(".card[data-catalog='notes']")
    card.get_by_label("Share notes with").fill("ALIC")  # a typo: the candidates are named
    card.get_by_role("button", name="Share").click()
    until(page, "document.getElementById('status').textContent.includes('did you mean alice')")
    card.get_by_label("Share notes with").fill("Alice")
    card.get_by_role("button", name="Share").click()
    shared = page.locator(".card[data-catalog='notes'] [aria-label='Shared with'] li")
    shared.first.wait_for()
    assert shared.inner_text().startswith("alice")
    asked: list[str] = []

    def answer(dialog: playwright_sync.Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    try:
        unshare = page.get_by_role("button", name="Unshare with alice")
        unshare.click()  # dismissed: still shared
        assert asked == ["Stop sharing notes with alice? Their access ends at once."]
        assert shared.count() == 1
        unshare.click()
        page.locator(".card[data-catalog='notes'] :text('Not shared with anyone.')").wait_for()
    finally:
        page.remove_listener("dialog", answer)
    assert len(asked) == 2


def test_who_am_i_and_stats(world: World, page: playwright_sync.Page) -> None:
    page.goto(world.url + "/#/me")
    assert page.locator("#account-key").inner_text() == world.bob_key
    page.goto(world.url + "/#/stats")
    page.wait_for_selector("dl.stats")
    assert "Accounts" in page.inner_text("dl.stats")
    assert "the hub's own account is not counted" in page.inner_text("dl.stats")


def test_keyboard_only(world: World, page: playwright_sync.Page) -> None:
    """A file opens with Enter, the viewer closes with Escape, focus comes back."""
    page.goto(f"{world.url}/#/c/{world.alice_key}/demo?path=pictures")
    button = page.get_by_role("button", name="sunset.png", exact=True)
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog:not([open])", state="attached")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "sunset.png"


def test_phone_sized_screen(world: World, page: playwright_sync.Page) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        page.goto(f"{world.url}/#/c/{world.alice_key}/demo")
        page.wait_for_selector("tr.folder")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the catalog view scrolls sideways on a phone"
        shot(page, "phone")
    finally:
        page.set_viewport_size({"width": 1100, "height": 760})


def test_the_page_logged_no_policy_violations(page: playwright_sync.Page) -> None:
    """Everything so far ran under the page's real CSP: nothing it did was blocked."""
    assert not [e for e in CONSOLE_ERRORS if "Content Security Policy" in e], CONSOLE_ERRORS


GREEN = "rgb(34, 165, 91)"  # --ok in app.css


def dot_colors(page: playwright_sync.Page) -> list[str]:
    script = "[...document.querySelectorAll('.dot')].map(d => getComputedStyle(d).backgroundColor)"
    return list(page.evaluate(script))


def test_the_player_says_when_the_owner_is_offline(
    world: World, page: playwright_sync.Page
) -> None:
    """An open player whose owner goes away says so on top of it; opening a file while the
    owner is offline says so instead of a dead player."""
    open_file(page, world, "videos/test-pattern.mp4")
    until(page, "document.querySelector('dialog[open] video').readyState >= 1")
    world.stop_serving()
    try:
        until(page, "document.getElementById('viewer-away').textContent !== ''", 10.0)
        assert page.inner_text("#viewer-away") == "demo of alice is offline"
        close_viewer(page)
        open_file(page, world, "videos/test-pattern.mp4")  # opened while it is offline
        until(page, "document.getElementById('viewer-away').textContent !== ''", 10.0)
        assert page.inner_text("#viewer-away") == "demo of alice is offline"
        close_viewer(page)
    finally:
        world.serve()


def test_dot_turns_grey_when_the_server_stops(world: World, page: playwright_sync.Page) -> None:
    page.goto(world.url + "/#/")
    page.wait_for_selector(f"{dot(world, 'demo')}.online")
    world.stop_serving()
    began = time.monotonic()
    # the server says offline as it stops: well before presence would lapse on its own
    # (limits.PRESENCE_TTL_S), even on a loaded machine
    page.wait_for_selector(f"{dot(world, 'demo')}:not(.online)", timeout=10_000)
    assert time.monotonic() - began < min(10, limits.PRESENCE_TTL_S - 3)
    shot(page, "offline")
    page.goto(f"{world.url}/#/c/{world.alice_key}/demo")  # a clear state, not a spinner
    message = page.locator(".offline").inner_text()
    assert "offline" in message
    assert "not serving it right now" in message
