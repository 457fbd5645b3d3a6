"""natster as people install it: the wheel, by `pipx install` into a new virtualenv with
no dev dependencies, runs a whole short story from that venv alone (hub, two people, a
catalog with a photo, a film and a note, share, serve, thumbnail, download, the web UI)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .conftest import free_port

pytestmark = pytest.mark.heavy
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree, installed as `pipx install WHEEL` does: a new
    virtualenv holding it and what it declares, nothing else."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(where), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = where.glob("natster-*.whl")
    pipx = {"PIPX_HOME": str(where / "pipx"), "PIPX_BIN_DIR": str(where / "bin")}
    subprocess.run(
        [sys.executable, "-m", "pipx", "install", "--pip-args=-q --no-compile", str(wheel)],
        check=True,
        capture_output=True,
        env={**_env(), **pipx},
    )
    assert (where / "bin" / "natster").resolve().is_relative_to(where / "pipx" / "venvs")
    return where / "pipx" / "venvs" / "natster"


def _env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NATSTER"))}
    if home is not None:
        env["NATSTER_HOME"] = str(home)
    return env


def _natster(venv: Path, *args: str, home: Path | None = None, cwd: Path) -> str:
    done = subprocess.run(
        [venv / "bin" / "natster", *args],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


@pytest.fixture
def started(venv: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each stopped (Ctrl-C) at its end."""
    running: list[subprocess.Popen[str]] = []
    yield running
    for proc in running:
        proc.send_signal(signal.SIGINT)
    for proc in running:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _start(
    venv: Path,
    started: list[subprocess.Popen[str]],
    ready: str,
    *args: str,
    home: Path | None,
    cwd: Path,
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [venv / "bin" / "natster", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(home),
        cwd=cwd,
    )
    started.append(proc)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # ends if the process dies
        seen.append(line)
        if ready in line:
            return proc
    pytest.fail(f"natster {' '.join(args)} did not start: {''.join(seen)}")


def test_the_wheel_alone_runs_the_story(
    venv: Path, started: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import natster, PIL, mutagen; print(natster.__file__)"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        check=True,
    ).stdout
    assert where.startswith(str(venv))  # the wheel's natster, not this tree's
    dev = subprocess.run([python, "-c", "import pytest"], env=_env(), cwd=tmp_path, check=False)
    assert dev.returncode != 0  # no dev dependency came along
    assert re.search(r"nats-server 2\.", _natster(venv, "--version", cwd=tmp_path))

    hub = tmp_path / "hub"
    port = free_port()
    _start(
        venv,
        started,
        "invite someone",
        "hub",
        "up",
        "--dir",
        str(hub),
        "--port",
        str(port),
        home=None,
        cwd=tmp_path,
    )
    homes = {}
    for name in ("alice", "bob"):
        invite = _natster(venv, "hub", "invite", "--dir", str(hub), cwd=tmp_path).splitlines()[-1]
        homes[name] = tmp_path / name
        _natster(venv, "init", invite, "--name", name, home=homes[name], cwd=tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (640, 400), (40, 110, 170)).save(media / "sea.jpg")
    (media / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    (media / "note.txt").write_text("hello from a wheel\n")
    alice, bob = homes["alice"], homes["bob"]
    _natster(venv, "catalog", "new", "media", "Our media", str(media), home=alice, cwd=tmp_path)
    _natster(venv, "catalog", "share", "media", "bob", home=alice, cwd=tmp_path)
    _start(venv, started, "serving", "catalog", "serve", "media", home=alice, cwd=tmp_path)
    _natster(venv, "catalog", "import", "media", "alice", home=bob, cwd=tmp_path)
    out = tmp_path / "got.jpg"
    _natster(venv, "catalog", "download", "media", "sea.jpg", str(out), home=bob, cwd=tmp_path)
    assert out.read_bytes() == (media / "sea.jpg").read_bytes()

    web_port = free_port()
    _start(venv, started, "natster web on", "web", "--port", str(web_port), home=bob, cwd=tmp_path)
    link = _natster(venv, "login", "--no-browser", home=bob, cwd=tmp_path).strip().splitlines()[-1]
    digest = hashlib.sha256((media / "sea.jpg").read_bytes()).hexdigest()
    with httpx.Client(follow_redirects=True, timeout=15) as browser:
        assert "natster" in browser.get(link).text  # signed in: the page
        assert browser.get(f"http://127.0.0.1:{web_port}/static/sw.js").status_code == 200
        library = browser.get(f"http://127.0.0.1:{web_port}/api/catalogs").json()
        item = next(i for i in library if i["catalog"] == "media")
        assert (item["online"], item["files"]) == (True, 3)
        deadline = time.monotonic() + 20
        while True:  # the owner makes the thumbnail (Pillow: a dependency of the wheel)
            thumb = browser.get(
                f"http://127.0.0.1:{web_port}/api/thumbs/{item['owner']}/media/{digest}"
            )
            if thumb.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert thumb.status_code == 200, thumb.text
        assert thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content.startswith(b"\xff\xd8")
