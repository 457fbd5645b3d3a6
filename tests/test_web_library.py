"""The media library in a real browser (Debian's Chromium): folders, thumbnails, the
viewer and its URL, subtitles, resuming, live changes, search over everything, phones."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from urllib.parse import quote

import playwright.sync_api as playwright_sync
import pytest
from PIL import Image

from .test_web_browser import close_viewer, signed_in_page, until
from .webworld import World, make_world, run

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from make_world(tmp_path_factory.mktemp("web-library"))


@pytest.fixture(scope="module")
def page(world: World) -> Iterator[playwright_sync.Page]:
    yield from signed_in_page(world)


def folder_url(world: World, path: str = "", **more: str) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"path": path, **more}.items() if v)
    return f"{world.url}/#/c/{world.alice_key}/demo" + (f"?{query}" if query else "")


def rows(page: playwright_sync.Page) -> list[str]:
    """What the listing shows, in order: folders as "dir/", files by path."""
    return list(
        page.locator("[data-folder], [data-path]").evaluate_all(
            "nodes => nodes.map(n => n.dataset.folder ? n.dataset.folder + '/' : n.dataset.path)"
        )
    )


def test_folders_come_first_and_columns_sort(world: World, page: playwright_sync.Page) -> None:
    page.goto(folder_url(world))
    page.wait_for_selector("[data-folder]")
    assert rows(page) == ["documents/", "music/", "pictures/", "videos/"]
    counts = page.locator("[data-folder='documents']").inner_text()
    assert "3 files" in counts  # leaflet.pdf and the two notes below it
    page.goto(folder_url(world, "documents"))
    until(page, "document.querySelector('[data-path=\"documents/leaflet.pdf\"]') !== null")
    assert rows(page) == ["documents/notes/", "documents/leaflet.pdf"]
    assert [a.inner_text() for a in page.locator(".crumbs a").all()] == ["demo", "documents"]
    page.goto(folder_url(world, "videos", view="list"))
    page.wait_for_selector("[data-path]")
    by_name = rows(page)
    assert by_name == sorted(by_name, key=str.casefold)
    page.get_by_role("link", name="Size").click()
    until(page, "location.hash.includes('sort=size')")
    page.wait_for_selector("th[aria-sort='ascending'] >> text=Size")
    sizes = rows(page)
    expected = sorted(sizes, key=lambda p: (world.media / p).stat().st_size)  # smallest first
    assert sizes == expected
    page.get_by_role("link", name="Size ↑").click()  # again: the other way round
    page.wait_for_selector("th[aria-sort='descending']")
    assert rows(page) == list(reversed(expected))


def test_thumbnails_appear_in_a_grid(world: World, page: playwright_sync.Page) -> None:
    page.goto(folder_url(world, "pictures"))
    page.wait_for_selector("ul.grid")  # pictures come as a grid by themselves
    until(page, "[...document.querySelectorAll('img.art')].length === 3")
    until(
        page,
        "[...document.querySelectorAll('img.art')].every(i => i.complete && i.naturalWidth > 0)",
    )
    sizes = page.locator("img.art").evaluate_all(
        "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert [200, 320] in sizes  # the portrait photo, turned upright by its EXIF
    page.goto(folder_url(world, "videos", view="grid"))
    tile = "[data-path='videos/test-pattern.mp4'] img.art"
    until(page, f'document.querySelector("{tile}")?.naturalWidth === 320', 30)
    assert "0:06" in page.locator("[data-path='videos/test-pattern.mp4']").inner_text()


def test_the_url_names_the_open_file_and_back_closes_it(
    world: World, page: playwright_sync.Page
) -> None:
    page.goto(folder_url(world, "pictures"))
    page.get_by_role("button", name="sea.jpg", exact=True).click()
    page.wait_for_selector("dialog[open]")
    assert "open=pictures%2Fsea.jpg" in page.evaluate("location.hash")
    page.go_back()
    page.wait_for_selector("dialog:not([open])", state="attached")
    assert "open=" not in page.evaluate("location.hash")
    assert page.locator("[data-path='pictures/sea.jpg']").count() == 1  # still the folder
    page.goto(world.url + "/#/")  # a link shared with someone who has access
    page.goto(folder_url(world, "pictures", open="pictures/sunset.png"))
    page.wait_for_selector("dialog[open]")
    assert page.locator("#viewer-title").inner_text() == "sunset.png"
    close_viewer(page)


def test_arrow_keys_move_to_the_next_and_previous_picture(
    world: World, page: playwright_sync.Page
) -> None:
    page.goto(folder_url(world, "pictures", open="pictures/sea.jpg"))
    page.wait_for_selector("dialog[open]")
    page.wait_for_selector("[data-path='pictures/sea.jpg']", state="attached")
    order = rows(page)
    at = order.index("pictures/sea.jpg")
    page.keyboard.press("ArrowRight")
    until(
        page,
        f"document.querySelector('#viewer-title').textContent === {order[at + 1].split('/')[-1]!r}",
    )
    assert f"open={quote(order[at + 1], safe='')}" in page.evaluate("location.hash")
    page.keyboard.press("ArrowLeft")
    until(page, "document.querySelector('#viewer-title').textContent === 'sea.jpg'")
    page.get_by_role("button", name="Next").click()
    until(page, "document.querySelector('#viewer-title').textContent !== 'sea.jpg'")
    page.go_back()  # next and previous replace the URL: Back still closes the viewer
    page.wait_for_selector("dialog:not([open])", state="attached")


def test_subtitles_beside_a_film_are_tracks(world: World, page: playwright_sync.Page) -> None:
    page.goto(folder_url(world, "videos"))
    page.wait_for_selector("[data-path='videos/test-pattern.mp4']")
    assert page.locator("[data-path='videos/test-pattern.srt']").count() == 0  # not listed
    page.goto(folder_url(world, "videos", open="videos/test-pattern.mp4"))
    page.wait_for_selector("dialog[open] video")
    until(page, "document.querySelector('video track') !== null")
    track = page.locator("video track")
    assert "test-pattern.srt" in (track.get_attribute("label") or "")
    until(page, "document.querySelector('video').textTracks[0].mode === 'showing'")
    until(page, "(document.querySelector('video').textTracks[0].cues || []).length === 2")
    cue = page.evaluate("document.querySelector('video').textTracks[0].cues[0].text")
    assert cue == "A test pattern, from alice's machine"
    close_viewer(page)


def test_a_film_resumes_where_this_browser_left_it(
    world: World, page: playwright_sync.Page
) -> None:
    page.goto(folder_url(world, "videos", open="videos/test-pattern.mp4"))
    until(page, "document.querySelector('video')?.readyState >= 1")
    page.evaluate("document.querySelector('video').currentTime = 4")
    until(page, "document.querySelector('video').currentTime > 4.2")
    close_viewer(page)
    page.goto(folder_url(world, "videos", open="videos/test-pattern.mp4"))
    until(page, "document.querySelector('video')?.readyState >= 1")
    until(page, "document.querySelector('video').currentTime >= 3.9", 2)  # not played there
    assert "Resumed at 0:04" in page.locator("#viewer-note").inner_text()
    page.get_by_role("button", name="Start over").click()
    until(page, "document.querySelector('video').currentTime < 2")
    close_viewer(page)


def test_a_film_this_browser_cannot_play_says_so(world: World, page: playwright_sync.Page) -> None:
    page.goto(folder_url(world, "videos", open="videos/hevc-sample.mkv"))
    page.wait_for_selector("dialog[open] .unplayable", timeout=20_000)
    text = page.locator(".unplayable").inner_text()
    assert "cannot play" in text
    assert "Matroska" in text
    link = page.locator(".unplayable a")
    assert "download=1" in (link.get_attribute("href") or "")
    assert page.locator("dialog video").count() == 0  # no dead 0:00 player
    close_viewer(page)


def test_a_new_file_appears_without_a_reload(world: World, page: playwright_sync.Page) -> None:
    page.goto(folder_url(world, "pictures"))
    page.wait_for_selector("[data-path='pictures/sea.jpg']")
    page.evaluate("window.__same = true")  # gone if the page reloaded
    Image.new("RGB", (64, 48), (10, 200, 10)).save(world.media / "pictures" / "new-leaf.png")
    page.wait_for_selector("[data-path='pictures/new-leaf.png']", timeout=30_000)
    assert page.evaluate("window.__same === true")
    assert "has new files" in page.locator(".toasts").inner_text()


def test_the_first_screen_of_thumbnails_is_asked_for_before_the_rest(
    world: World, page: playwright_sync.Page
) -> None:
    """Thumbnails below the first screen wait until those of the first screen are in, so
    they don't slow down what the person sees first."""
    crowd = world.media / "crowd"
    crowd.mkdir()
    for i in range(45):  # a first screen (40) and a few more, each its own content
        Image.new("RGB", (8, 8), (i * 5, 255 - i * 5, 90)).save(crowd / f"p{i:02}.png")
    first = {hashlib.sha256((crowd / f"p{i:02}.png").read_bytes()).hexdigest() for i in range(40)}
    events: list[tuple[str, str]] = []  # (what happened, to the thumbnail of which hash)

    def note(what: str) -> Callable[[playwright_sync.Request], None]:
        def seen(request: playwright_sync.Request) -> None:
            if "/api/thumbs/" in request.url:
                events.append((what, request.url.rsplit("/", 1)[1]))

        return seen

    handlers = {kind: note(kind) for kind in ("request", "requestfinished", "requestfailed")}
    for kind, handler in handlers.items():
        page.on(kind, handler)  # type: ignore[call-overload]
    try:
        page.goto(folder_url(world))
        page.wait_for_selector("[data-folder='crowd']", timeout=30_000)
        page.goto(folder_url(world, "crowd"))
        page.wait_for_selector("ul.grid")
        # below the first screen, yet near enough for Chromium to load lazily
        until(
            page,
            "[...document.querySelectorAll('img.art')]"
            ".some((i, n) => n >= 40 && i.complete && i.naturalWidth > 0)",
            30,
        )
    finally:
        for kind, handler in handlers.items():
            page.remove_listener(kind, handler)
    asked_later = [
        n for n, (what, digest) in enumerate(events) if what == "request" and digest not in first
    ]
    first_done = [
        n for n, (what, digest) in enumerate(events) if what != "request" and digest in first
    ]
    assert len(first_done) == 40, events
    assert asked_later, events
    assert min(asked_later) > max(first_done), events


def test_search_over_everything_finds_accented_names(
    world: World, page: playwright_sync.Page
) -> None:
    page.goto(world.url + "/#/")
    box = page.get_by_role("searchbox", name="Search everything")
    box.fill("ete plage")
    box.press("Enter")
    page.wait_for_selector("section.hits[data-catalog='demo']")
    hit = page.locator("section.hits[data-catalog='demo'] .hit")
    assert hit.count() == 1
    assert "Été à la plage.jpg" in hit.inner_text()
    assert "alice" in page.locator("section.hits[data-catalog='demo'] h2").inner_text()
    assert "null" not in page.locator(".results").inner_text()  # every catalog answered
    hit.locator("a").click()  # opens in its folder's viewer
    page.wait_for_selector("dialog[open]")
    assert page.locator("#viewer-title").inner_text() == "Été à la plage.jpg"
    close_viewer(page)
    page.goto(world.url + "/#/search?q=ETE&kind=video")
    until(page, "!document.querySelector('.results').textContent.includes('Searching')")
    assert "Nothing matches" in page.locator(".results").inner_text()
    assert "null" not in page.locator(".results").inner_text()


def test_on_a_phone_titles_keep_their_words_and_buttons_fit_a_thumb(
    world: World, page: playwright_sync.Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        page.goto(folder_url(world, "pictures"))
        until(page, "document.querySelectorAll('.tile .title').length >= 3")
        assert page.inner_text("[data-switch]") == "List"  # shown as a grid: it offers a list
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        styles = page.locator(".tile .title").evaluate_all(
            "ts => ts.map(t => [getComputedStyle(t).wordBreak, getComputedStyle(t).overflowWrap])"
        )
        assert all(s == ["normal", "normal"] for s in styles), styles  # never mid-word
        rows = page.locator(".toolbar > *").evaluate_all(
            "items => items.map(i => i.getBoundingClientRect()).map(r => [r.top, r.bottom])"
        )
        assert max(top for top, _ in rows) < min(bottom for _, bottom in rows), rows  # one line
        aligned = page.locator(".toolbar button, button.more").evaluate_all(
            "bs => bs.map(b => getComputedStyle(b).textAlign)"
        )
        assert set(aligned) == {"center"}, aligned  # labels centred
        page.get_by_role("button", name="sea.jpg", exact=True).click()
        page.wait_for_selector("dialog[open]")
        for name in ("Previous", "Next", "Close"):
            box = page.get_by_role("button", name=name, exact=True).bounding_box()
            assert box is not None
            assert box["height"] >= 40, name  # one thumb reaches and hits it
        dialog = page.locator("dialog").bounding_box()
        assert dialog is not None
        assert dialog["width"] >= 389  # the viewer takes the whole screen
        close_viewer(page)
    finally:
        page.set_viewport_size({"width": 1100, "height": 760})


def test_when_a_share_ends_the_page_says_so_in_words(
    world: World, page: playwright_sync.Page
) -> None:
    """Last: alice unshares while bob watches; the player stops and the page says why."""
    page.goto(folder_url(world, "videos", open="videos/test-pattern.mp4"))
    until(page, "document.querySelector('video')?.readyState >= 1")
    try:
        run("catalog", "unshare", "demo", world.bob_key, home=world.alice)
        said = page.locator("p.ended").inner_text(timeout=15_000)
        assert said == "alice stopped sharing demo with you."
        assert page.locator("dialog[open]").count() == 0  # no frozen player
        assert "stopped sharing demo" in page.locator(".toasts").inner_text()
    finally:
        run("catalog", "share", "demo", world.bob_key, home=world.alice)
        run("catalog", "import", "demo", world.alice_key, home=world.bob)


HOSTILE_MD = """# Hostile notes

<script>window.pwned = 1</script>
<img src="x" onerror="window.pwned = 2">

[a link](javascript:window.pwned=3) and [a real one](https://example.org/)
"""


def test_markdown_is_a_document_and_carries_no_script(
    world: World, page: playwright_sync.Page
) -> None:
    page.goto(folder_url(world, "documents/notes", open="documents/notes/recipe.md"))
    page.wait_for_selector("dialog[open] article.markdown h1")
    assert page.inner_text("dialog[open] article.markdown h1") == "Pancakes"
    close_viewer(page)
    hostile = world.media / "documents" / "notes" / "hostile.md"
    hostile.write_text(HOSTILE_MD)  # the owner's server sees it come: a peer's file
    try:
        page.goto(folder_url(world, "documents/notes"))
        page.get_by_role("button", name="hostile.md", exact=True).wait_for(timeout=20_000)
        page.goto(folder_url(world, "documents/notes", open="documents/notes/hostile.md"))
        page.wait_for_selector("dialog[open] article.markdown h1")
        article = page.locator("dialog[open] article.markdown")
        assert article.locator("script, img, [onerror]").count() == 0  # raw HTML is text
        assert "<script>" in article.inner_text()  # shown, not run
        hrefs = article.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert hrefs == [None, "https://example.org/"] or hrefs == ["https://example.org/"], hrefs
        assert page.evaluate("window.pwned === undefined")
        close_viewer(page)
    finally:
        hostile.unlink()
