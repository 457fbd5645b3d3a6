"""Scanning and rescanning folders into catalogs."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from natster.catalog import Catalogs, Entry
from natster.catalog import hashing as hashing_module
from natster.catalog import scan as scan_module
from natster.catalog.hashing import Unhashable, hash_file
from natster.errors import CatalogError, CatalogExists, CatalogNotFound, EntryNotFound

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
ZEROS_5GIB_SHA256 = "7f06c62352aebd8125b2a1841e2b9e1ffcbed602f381c3dcb3200200e383d1d5"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _entries(catalogs: Catalogs, name: str) -> dict[str, Entry]:
    return {e.path: e for e in catalogs.index.entries(name)}


@pytest.fixture
def catalogs(tmp_path: Path) -> Iterator[Catalogs]:
    with Catalogs(tmp_path / "home") as opened:
        yield opened


FILES = {
    "with space/a file.txt": b"hello\n",
    "ünïcödé/日本語.txt": "こんにちは\n".encode(),
    "dots/..hidden...": b"dots",
    "dots/.profile": b"export X=1\n",
    "empty": b"",
    "/".join(f"d{i}" for i in range(30)) + "/deep.txt": b"deep",
    "video.bin": MP4_HEAD,
    "lies.txt": b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
    "noext": bytes(range(256)),
}


def test_scan_records_every_regular_file(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    _tree(root, FILES)
    report = catalogs.new("media", "things", root)
    entries = _entries(catalogs, "media")
    assert set(entries) == set(FILES)
    assert report.added == len(FILES)
    assert report.revision == 1
    for rel, data in FILES.items():
        assert entries[rel].hash == _sha(data)
        assert entries[rel].size == len(data)
        assert entries[rel].mtime_ns == (root / rel).stat().st_mtime_ns
    assert entries["with space/a file.txt"].mime == "text/plain"
    assert entries["ünïcödé/日本語.txt"].mime == "text/plain"
    assert entries["video.bin"].mime == "video/mp4"  # the content, not the extension
    assert entries["lies.txt"].mime == "image/png"
    assert entries["noext"].mime == "application/octet-stream"
    info = catalogs.info("media")
    assert (info.files, info.bytes) == (len(FILES), sum(map(len, FILES.values())))


def test_junk_and_what_natsterignore_names_are_left_out(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    kept = {"a.jpg": b"a", "sub/b.jpg": b"b", "sub/keep.tmp.txt": b"k", "drafts.txt": b"d"}
    junk = {
        ".DS_Store": b"x",
        "sub/Thumbs.db": b"x",
        "sub/desktop.ini": b"x",
        "._a.jpg": b"x",
        "$RECYCLE.BIN/old.jpg": b"x",
        ".natster-mirror": b"{}",
        "sub/.natster-0123.tmp": b"x",
    }
    ignored = {"x.tmp": b"x", "sub/y.TMP": b"y", "drafts/one.txt": b"1", "raw/z.jpg": b"z"}
    _tree(root, {**kept, **junk, **ignored})
    (root / ".natsterignore").write_text("# not mine to share\n*.tmp\n*.TMP\ndrafts/\n/raw/*\n")
    report = catalogs.new("m", "", root)
    assert set(_entries(catalogs, "m")) == set(kept)
    assert report.skipped == []  # junk is not a problem to report
    (root / ".natsterignore").write_text("")
    catalogs.rescan("m")
    assert set(_entries(catalogs, "m")) == set(kept) | set(ignored)


def test_odd_files_are_skipped_and_reported(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    _tree(root, {"ok.txt": b"ok", "sub/x": b"x"})
    (root / "out-link").symlink_to("/etc/hostname")
    (root / "in-link").symlink_to("ok.txt")
    (root / "broken").symlink_to("nowhere")
    (root / "folder-link").symlink_to("sub")
    (root / "back\\slash").write_bytes(b"b")
    os.mkfifo(root / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        report = catalogs.new("m", "", root)
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(_entries(catalogs, "m")) == {"ok.txt", "sub/x", "in-link"}
    assert "outside" in reasons["out-link"]
    assert reasons["broken"] == "broken link"
    assert "not followed" in reasons["folder-link"]
    assert "backslash" in reasons["back\\\\slash"]
    assert "not a regular file" in reasons["fifo"]
    assert "not a regular file" in reasons["sock"]


def test_rescan_is_exact_after_add_edit_delete_rename(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    _tree(
        root,
        {
            "keep.txt": b"keep",
            "edit.txt": b"v1",
            "gone.txt": b"bye",
            "old/name.mp4": MP4_HEAD,
            "same-size.txt": b"aaaa",
        },
    )
    catalogs.new("m", "", root)
    catalogs.describe("m", "old/name.mp4", "a film")
    catalogs.describe("m", "edit.txt", "notes")

    (root / "edit.txt").write_bytes(b"version 2")
    (root / "gone.txt").unlink()
    (root / "new").mkdir()
    (root / "old/name.mp4").rename(root / "new/renamed.mp4")
    (root / "old").rmdir()
    (root / "added.txt").write_bytes(b"new!")
    same = root / "same-size.txt"
    same.write_bytes(b"bbbb")
    os.utime(same, ns=(same.stat().st_atime_ns, same.stat().st_mtime_ns + 10**9))

    report = catalogs.rescan("m")
    assert (report.added, report.changed, report.removed, report.renamed, report.unchanged) == (
        1,
        2,
        1,
        1,
        1,
    )
    assert report.files_hashed == 4  # keep.txt was not hashed again
    assert report.revision == 2
    entries = _entries(catalogs, "m")
    with Catalogs(tmp_path / "fresh") as fresh:
        fresh.new("m", "", root)
        expected = _entries(fresh, "m")
    assert {p: (e.hash, e.size, e.mime) for p, e in entries.items()} == {
        p: (e.hash, e.size, e.mime) for p, e in expected.items()
    }
    assert entries["new/renamed.mp4"].description == "a film"
    assert entries["edit.txt"].description == "notes"

    again = catalogs.rescan("m")
    assert not again.modified
    assert again.files_hashed == 0
    assert again.revision == 2


def test_a_killed_scan_leaves_the_previous_catalog(tmp_path: Path) -> None:
    """SIGKILL in the middle of a rescan's transaction: the old catalog is intact."""
    root, home = tmp_path / "media", tmp_path / "home"
    _tree(root, {f"f{i:03}.txt": b"v1 %d" % i for i in range(200)})
    with Catalogs(home) as catalogs:
        catalogs.new("m", "", root)
        before = _entries(catalogs, "m")
    for i in range(200):
        (root / f"f{i:03}.txt").write_bytes(b"version two %d" % i)
    (root / "f000.txt").unlink()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from natster.catalog import Catalogs
        class Killer:
            done = 0
            def planned(self, files, size): pass
            def advance(self, files, size):
                self.done += files
                if self.done == 100:
                    os.kill(os.getpid(), signal.SIGKILL)
        Catalogs(Path({str(home)!r})).rescan("m", Killer())
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    with Catalogs(home) as catalogs:
        assert _entries(catalogs, "m") == before
        assert catalogs.info("m").revision == 1
        report = catalogs.rescan("m")
        assert (report.changed, report.removed) == (199, 1)


def test_an_exception_mid_scan_rolls_back(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    _tree(root, {"a": b"a", "b": b"b"})

    class Boom:
        def planned(self, files: int, size: int) -> None:
            pass

        def advance(self, files: int, size: int) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        catalogs.new("m", "", root, Boom())
    assert not catalogs.index.exists("m")  # a catalog exists only once fully scanned
    catalogs.new("m", "", root)
    assert len(_entries(catalogs, "m")) == 2


@pytest.mark.heavy
def test_sparse_5gib_file_is_hashed_in_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.img"
    with big.open("wb") as handle:
        handle.truncate(5 * 1024**3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = hash_file(str(big))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert result.sha256 == ZEROS_5GIB_SHA256
    assert result.size == 5 * 1024**3
    assert grown_kib < 64 * 1024, f"hashing grew the process by {grown_kib} KiB"


def test_a_file_changing_while_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    real_fstat = os.fstat
    calls = {"n": 0}

    def flaky_fstat(fd: int) -> os.stat_result:
        calls["n"] += 1
        st = real_fstat(fd)
        if calls["n"] == 2:  # the "after" of the first attempt sees a new mtime
            fields = list(st)
            fields[8] += 1
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "fstat", flaky_fstat)
    assert hash_file(str(path)).sha256 == _sha(b"data")
    assert calls["n"] == 4

    monkeypatch.setattr(hashing_module, "_hash_once", lambda _path: None)
    with pytest.raises(Unhashable, match="kept changing"):
        hash_file(str(path))


def test_files_vanishing_or_unreadable_mid_scan_are_skipped(
    catalogs: Catalogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "media"
    _tree(root, {"stays": b"1", "vanishes": b"2", "locked": b"3"})
    real_batch = hashing_module.hash_batch  # what scan calls

    def meddling(paths: list[str]) -> list[hashing_module.Hashed | Unhashable]:
        results: list[hashing_module.Hashed | Unhashable] = []
        for path in paths:
            if path.endswith("vanishes"):
                os.unlink(path)
            if path.endswith("locked"):
                results.append(Unhashable("permission denied"))
                continue
            results.extend(real_batch([path]))
        return results

    monkeypatch.setattr(scan_module, "hash_batch", meddling)
    report = catalogs.new("m", "", root)
    assert set(_entries(catalogs, "m")) == {"stays"}
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {"vanishes": "vanished during the scan", "locked": "permission denied"}


def test_describe_rm_export_and_errors(catalogs: Catalogs, tmp_path: Path) -> None:
    root = tmp_path / "media"
    _tree(root, {"a.txt": b"same", "b/a-copy.txt": b"same", "c.txt": b"other"})
    catalogs.new("m", "mine", root)
    digest = _sha(b"same")
    assert sorted(catalogs.describe("m", digest[:12], "twins")) == ["a.txt", "b/a-copy.txt"]
    assert catalogs.describe("m", "c.txt", "single") == ["c.txt"]
    with pytest.raises(EntryNotFound):
        catalogs.describe("m", "nope.txt", "x")
    with pytest.raises(EntryNotFound):
        catalogs.describe("m", "../../etc/passwd", "x")
    with pytest.raises(CatalogExists):
        catalogs.new("m", "", root)
    with pytest.raises(CatalogNotFound):
        catalogs.rescan("zzz")
    with pytest.raises(CatalogError, match="not a folder"):
        catalogs.new("n", "", root / "a.txt")
    with pytest.raises(CatalogError, match="at most"):
        catalogs.new("n", "x" * 5000, root)

    exported = json.loads("".join(catalogs.export("m")))
    assert exported["name"] == "m"
    assert exported["root_dir"] == str(root.resolve())
    first = exported["entries"][0]
    assert first == {
        "path": "/a.txt",
        "description": "twins",
        "mime_type": "text/plain",
        "hash": digest,
        "byte_size": 4,
    }

    catalogs.remove("m")
    assert catalogs.local() == []
    assert (root / "a.txt").read_bytes() == b"same"  # the media is never touched


# The original Natster's Go struct (medialibrary.MediaLibrary, REFERENCE.md): JSON key ->
# the JSON type Go's encoding/json reads into that field without an error
ORIGINAL_LIBRARY = {
    "name": str,
    "root_dir": str,
    "description": str,
    "last_modified": int,  # int64, Unix seconds
    "entries": list,
}
ORIGINAL_ENTRY = {"path": str, "description": str, "mime_type": str, "hash": str, "byte_size": int}


def test_export_has_the_original_natsters_field_types(tmp_path: Path) -> None:
    root = tmp_path / "m"
    for path in ("a.txt", "deeper/b.mp4", "ü ber/c d.mp3"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(path.encode())
    before = int(time.time())
    with Catalogs(tmp_path / "home") as catalogs:
        catalogs.new("m", "mixed", root)
        exported = json.loads("".join(catalogs.export("m")))
    assert {k: type(v) for k, v in exported.items()} == ORIGINAL_LIBRARY
    assert before - 1 <= exported["last_modified"] <= time.time() + 1
    assert len(exported["entries"]) == 3
    for entry in exported["entries"]:
        assert {k: type(v) for k, v in entry.items()} == ORIGINAL_ENTRY
        assert entry["path"].startswith("/")
        full = Path(exported["root_dir"] + entry["path"])  # the original's TrimPrefix, undone
        assert hashlib.sha256(full.read_bytes()).hexdigest() == entry["hash"]
        assert entry["byte_size"] == full.stat().st_size


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "forked"])
def test_rescan_diff_is_exact_serial_or_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    from natster import limits

    monkeypatch.setattr(limits, "PARALLEL_DIFF_MIN_ENTRIES", 1 if parallel else 10**9)
    root = tmp_path / "media"
    _tree(
        root,
        {
            "top.txt": b"top",
            "x": b"file that becomes a folder",
            "a/1": b"1",
            "a/b/2": b"2",
            "doomed/3": b"3",
            "doomed/deep/4": b"4",
            "moved/5": b"55555",
        },
    )
    with Catalogs(tmp_path / "home") as catalogs:
        catalogs.new("m", "", root)
        catalogs.describe("m", "moved/5", "five")
        (root / "x").unlink()
        _tree(root, {"x/inside": b"now a folder", "fresh/6": b"6", "a/b/2": b"two"})
        (root / "top.txt").unlink()
        for path in ("doomed/deep/4", "doomed/3"):
            (root / path).unlink()
        (root / "doomed/deep").rmdir()
        (root / "doomed").rmdir()
        (root / "moved").rename(root / "renamed")
        report = catalogs.rescan("m")
        entries = _entries(catalogs, "m")
    with Catalogs(tmp_path / "fresh-home") as fresh:
        fresh.new("m", "", root)
        expected = _entries(fresh, "m")
    assert {p: e.hash for p, e in entries.items()} == {p: e.hash for p, e in expected.items()}
    assert entries["renamed/5"].description == "five"
    assert (report.added, report.changed, report.removed, report.renamed) == (2, 1, 4, 1)
    assert report.unchanged == 1
