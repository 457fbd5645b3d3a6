"""Names and paths: nothing a catalog holds can name a file outside its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natster.catalog import Catalogs, check_name, check_relpath, resolve_inside
from natster.errors import InvalidCatalogName, UnsafePath


@pytest.mark.parametrize("name", ["a", "movies", "my-films_2", "x" * 64, "0"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "has space", "x" * 65, "dot.ted", "ü", "a/b", "-\n"])
def test_bad_names_say_the_rule(name: str) -> None:
    with pytest.raises(InvalidCatalogName, match="lowercase letters, digits"):
        check_name(name)


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b", "a\x00b", "", "a/"]
)
def test_unsafe_paths(path: str) -> None:
    with pytest.raises(UnsafePath):
        check_relpath(path)


@given(st.text(max_size=60))
def test_accepted_paths_cannot_escape(path: str) -> None:
    try:
        check_relpath(path)
    except UnsafePath:
        return
    assert not path.startswith("/")
    assert "\\" not in path
    assert "\x00" not in path
    assert ".." not in path.split("/")
    assert os.path.normpath(path) == path  # nothing for a filesystem to collapse


def test_resolve_inside_refuses_links_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("ok")
    (root / "out").symlink_to(tmp_path)
    assert resolve_inside(root, "sub/ok.txt") == (root / "sub" / "ok.txt").resolve()
    with pytest.raises(UnsafePath, match="outside"):
        resolve_inside(root, "out/anything")


_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tree=st.lists(st.lists(_NAMES, min_size=1, max_size=4), min_size=1, max_size=8),
    escape=st.booleans(),
)
def test_no_scanned_path_escapes_the_root(
    tmp_path_factory: pytest.TempPathFactory, tree: list[list[str]], escape: bool
) -> None:
    base = tmp_path_factory.mktemp("tree")
    root = base / "root"
    root.mkdir()
    (base / "secret").write_text("outside")
    for parts in tree:
        target = root.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_bytes(b"x")
        except OSError:  # a name the filesystem refuses (too long, clashes with a folder)
            continue
    if escape:
        (root / "link-out").symlink_to(base / "secret")
        (root / "dir-out").symlink_to(base)
    with Catalogs(base / "home") as catalogs:
        report = catalogs.new("t", "", root)
        entries = list(catalogs.index.entries("t"))
    for entry in entries:
        check_relpath(entry.path)
        assert "\\" not in entry.path
        assert "\x00" not in entry.path
        resolved = resolve_inside(root, entry.path)
        assert resolved.read_bytes() != b"outside"
    assert all(not e.path.startswith(("link-out", "dir-out")) for e in entries)
    if escape:
        reasons = {s.path: s.reason for s in report.skipped}
        assert "outside" in reasons["link-out"]
        assert "outside" in reasons["dir-out"]
