"""The natster command as people run it, moving files: serve, download, mirror, resume
(real processes, signals, exit codes; beside tests/test_cli.py so the two run apart)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from natster._net import is_loopback, lan_address

from . import warm_cli
from .cliworld import hub_process, member, one_line_error, serving
from .conftest import NATSTER, free_port, natster

__all__ = ["hub_process"]  # a fixture


@pytest.mark.heavy
def test_serve_logs_json_and_stops_on_ctrl_c(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    alice = member(hub_process[0], tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.txt").write_text("a")
    assert natster("catalog", "new", "films", "mine", str(media), home=alice).returncode == 0
    errors = (tmp_path / "serve.err").open("w")
    port = free_port()
    server = warm_cli.Popen(
        [*NATSTER, "catalog", "serve", "films", "--log-format", "json", "--direct", str(port)],
        env={**os.environ, "NATSTER_HOME": str(alice)},
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "serving films" in server.stdout.readline()
        assert server.stdout.readline().startswith("direct transfers at tls://")
        numbers = json.loads(natster("stats", "--json", home=alice).stdout)
        assert numbers["catalogs_online"] == 2  # the hub's catalog, and now alice's films
        got = natster("catalog", "download", "films", "a.txt", str(tmp_path / "a"), home=alice)
        assert "a.txt: direct" in got.stderr, got.stderr  # from this machine's address
        assert (tmp_path / "a").read_text() == "a"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=15)
    assert server.returncode == 0
    logs = [json.loads(line) for line in (tmp_path / "serve.err").read_text().splitlines()]
    messages = [entry["message"] for entry in logs]
    assert "serving films" in messages
    assert "stopped serving films" in messages
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logs)


@pytest.mark.heavy
def test_transfers_go_direct_by_default_where_there_is_a_network_and_never_if_told(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    """Without --direct, a catalog server on a machine with a network address starts
    its direct endpoint for the first download; --no-direct keeps every byte on the
    hub. `catalog download --json` says which way they came."""
    alice = member(hub_process[0], tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.bin").write_bytes(os.urandom(200_000))
    assert natster("catalog", "new", "films", "mine", str(media), home=alice).returncode == 0

    def download(to: str) -> dict[str, object]:
        got = natster(
            "catalog", "download", "films", "a.bin", str(tmp_path / to), "--json", home=alice
        )
        assert got.returncode == 0, got.stderr
        assert (tmp_path / to).read_bytes() == (media / "a.bin").read_bytes()
        return dict(json.loads(got.stdout))

    by_default = "via hub" if is_loopback(lan_address()) else "direct"
    with serving(alice, "films"):
        said = download("one")
    assert said == {
        "target": str(tmp_path / "one"),
        "path": "a.bin",
        "size": 200_000,
        "sent": 200_000,
        "route": by_default,
    }
    with serving(alice, "films", options=("--no-direct",)):
        assert download("two")["route"] == "via hub"
    both = natster("catalog", "serve", "films", "--direct", "4999", "--no-direct", home=alice)
    assert "give one of them" in one_line_error(both)


@pytest.mark.heavy
def test_download_a_file_and_mirror_a_catalog(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    alice = member(hub_process[0], tmp_path)
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    (media / "a.txt").write_text("alpha")
    (media / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    assert natster("catalog", "new", "films", "mine", str(media), home=alice).returncode == 0
    with serving(alice, "films", options=("--no-direct",)):  # every byte through the hub
        got = natster(
            "catalog", "download", "films", "sub/b.bin", str(tmp_path / "b.bin"), home=alice
        )
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip().endswith("b.bin")
        assert "sub/b.bin: via hub" in got.stderr
        assert (tmp_path / "b.bin").read_bytes() == (media / "sub" / "b.bin").read_bytes()
        for many in (("sub/", str(tmp_path / "f")), ("--all", str(tmp_path / "g"))):
            as_json = natster("catalog", "download", "films", *many, "--json", home=alice)
            assert "--json is for a file" in one_line_error(as_json)
        mirror = tmp_path / "mirror"
        mirrored = natster("catalog", "download", "films", "--all", str(mirror), home=alice)
        assert mirrored.stdout == (  # one summary line, not every path
            f"films -> {mirror}: 2 new, 0 updated, 0 renamed, 0 deleted, 0 unchanged; "
            "293.0 KiB sent\n"
        )
        assert (mirror / "a.txt").read_text() == "alpha"
        into = tmp_path / "new folder"  # a trailing / means a folder, made if need be
        got = natster("catalog", "download", "films", "a.txt", f"{into}/", home=alice)
        assert (into / "a.txt").read_text() == "alpha", got.stderr
        folder = natster("catalog", "download", "films", "sub/", str(into), home=alice)
        assert folder.returncode == 0, folder.stderr
        assert (into / "sub" / "b.bin").read_bytes() == (media / "sub" / "b.bin").read_bytes()
        b_hash = next(
            e["hash"]
            for e in json.loads(
                natster("catalog", "contents", "films", "--json", home=alice).stdout
            )
            if e["path"] == "sub/b.bin"
        )
        by_short = natster("catalog", "download", "films", b_hash[:12], str(into / "x"), home=alice)
        assert (into / "x").read_bytes() == (media / "sub" / "b.bin").read_bytes(), by_short.stderr
        assert (mirror / "sub" / "b.bin").read_bytes() == (media / "sub" / "b.bin").read_bytes()
        before = (mirror / "a.txt").stat().st_mtime_ns
        again = natster("catalog", "download", "films", "--all", str(mirror), home=alice)
        assert again.returncode == 0
        assert (mirror / "a.txt").stat().st_mtime_ns == before  # verified, not fetched again
        (media / "Été à la plage.txt").write_text("sea")
        assert natster("catalog", "rescan", "films", home=alice).returncode == 0
        found = natster("search", "ETE", "--json", home=alice)
        assert found.returncode == 0, found.stderr
        results = json.loads(found.stdout)
        assert [c["state"] for c in results["catalogs"]] == ["found"]
        assert [e["path"] for e in results["catalogs"][0]["entries"]] == ["Été à la plage.txt"]
        table = natster("search", "plage", "--type", "document", home=alice)
        assert "Été à la plage.txt" in table.stdout
        none = natster("search", "plage", "--type", "video", home=alice)
        assert "nothing matches 'plage'" in none.stdout
        line = one_line_error(natster("catalog", "download", "films", "nope.txt", home=alice))
        assert "no file" in line
        line = one_line_error(natster("catalog", "download", "films", "nope/", home=alice))
        assert "has no folder 'nope'" in line
        blocked = tmp_path / "a-file"
        blocked.write_text("not a folder")
        line = one_line_error(
            natster("catalog", "download", "films", "a.txt", str(blocked / "a.txt"), home=alice)
        )
        assert line.startswith("error: cannot write to")


@pytest.mark.heavy
def test_a_download_never_replaces_a_different_file_unless_told(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    alice = member(hub_process[0], tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    film = os.urandom(200_000)
    (media / "film.mp4").write_bytes(film)
    assert natster("catalog", "new", "films", "mine", str(media), home=alice).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    mine = b"my own film, not alice's"
    (out / "film.mp4").write_bytes(mine)
    with serving(alice, "films"):
        refused = natster("catalog", "download", "films", "film.mp4", f"{out}/", home=alice)
        line = one_line_error(refused)
        assert f"{out / 'film.mp4'} is already there and is not that file" in line
        assert (out / "film.mp4").read_bytes() == mine  # byte for byte
        assert sorted(p.name for p in out.iterdir()) == ["film.mp4"]  # no .part left either
        kept = natster(
            "catalog", "download", "films", "film.mp4", f"{out}/", "--rename", home=alice
        )
        assert kept.returncode == 0, kept.stderr
        assert kept.stdout.strip() == str(out / "film (1).mp4")
        assert (out / "film (1).mp4").read_bytes() == film
        assert (out / "film.mp4").read_bytes() == mine
        forced = natster(
            "catalog", "download", "films", "film.mp4", f"{out}/", "--force", home=alice
        )
        assert forced.returncode == 0, forced.stderr
        assert (out / "film.mp4").read_bytes() == film
        again = natster("catalog", "download", "films", "film.mp4", f"{out}/", home=alice)
        assert again.returncode == 0, again.stderr
        assert "already here" in again.stderr
        assert "0 bytes sent" in again.stderr
        assert again.stdout.strip() == str(out / "film.mp4")
        both = natster(
            "catalog", "download", "films", "film.mp4", "--force", "--rename", home=alice
        )
        assert "give one of them" in one_line_error(both)


@pytest.mark.heavy
def test_a_stopped_then_killed_download_resumes(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    """Stopped with Ctrl-C, then killed: a third run resumes from what was kept. (768 MiB:
    big enough that each stop lands mid-file; offsets past 2^31 are plain integers in
    Python and JSON, and the browser's are checked in its own tests.)"""
    alice = member(hub_process[0], tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    size = 768 * 1024**2 + 12345
    with (media / "big.img").open("wb") as handle:
        handle.truncate(size)  # sparse
    assert natster("catalog", "new", "films", "mine", str(media), home=alice).returncode == 0
    env = {**os.environ, "NATSTER_HOME": str(alice)}
    with serving(alice, "films"):
        out = tmp_path / "big.img"
        part = tmp_path / "big.img.part"
        stopped = warm_cli.Popen(  # Ctrl-C first: a clean stop, what was written is kept
            [*NATSTER, "catalog", "download", "films", "big.img", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not part.exists() or part.stat().st_size < size * 0.2:
            assert stopped.poll() is None, "the download ended before it could be stopped"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stopped.send_signal(signal.SIGINT)
        _, stderr = stopped.communicate(timeout=30)
        assert stopped.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == "interrupted"
        assert "Traceback" not in stderr
        assert part.stat().st_size >= size * 0.2
        first = warm_cli.Popen(
            [*NATSTER, "catalog", "download", "films", "big.img", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not part.exists() or part.stat().st_size < size * 0.4:
            assert first.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first.kill()  # the receiver is killed, no clean-up
        first.wait()
        assert not out.exists()
        kept = part.stat().st_size
        again = natster(
            "catalog", "download", "films", "big.img", str(out), home=alice, timeout=300
        )
        assert again.returncode == 0, again.stderr
        notice = next(line for line in again.stderr.splitlines() if "resuming" in line)
        assert re.fullmatch(r"resuming big\.img: \d+\.\d [MG]iB already here", notice.strip())
        assert out.stat().st_size == size
        assert not part.exists()
        assert kept >= size * 0.4
