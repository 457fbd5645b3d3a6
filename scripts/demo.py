"""`make demo`: the natster story on an embedded hub under .demo/.

Runs the real `natster` command, as a person would. Running it again reuses the hub
and the users it made. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts import media  # noqa: E402

DEMO = Path(os.environ.get("NATSTER_DEMO_DIR") or ROOT / ".demo")  # tests: a temporary one
HUB = DEMO / "hub"


def first_free(start: int, tries: int = 50) -> str:
    """``start``, or the next port after it that nothing on this machine listens on."""
    for port in range(start, start + tries):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return str(port)
    raise SystemExit(f"ports {start}-{start + tries - 1} are all taken: set NATSTER_DEMO_PORT")


PORT = os.environ.get("NATSTER_DEMO_PORT") or first_free(4242)
WEB_PORT = os.environ.get("NATSTER_DEMO_WEB_PORT") or first_free(8080)
NATSTER = [sys.executable, "-m", "natster"]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def natster(*args: str, home: Path | None = None, quiet: bool = False) -> str:
    env = dict(os.environ)
    if home is not None:
        env["NATSTER_HOME"] = str(home)
    shown = f"NATSTER_HOME={_shown(home)} " if home else ""
    words = " ".join(a if len(a) < 60 else a[:40] + "..." for a in args)
    if not quiet:
        print(f"$ {shown}natster {words}")
    result = subprocess.run([*NATSTER, *args], env=env, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(result.returncode)
    if result.stdout.strip() and args[:2] != ("hub", "invite") and not quiet:
        print(result.stdout.rstrip())
    return result.stdout


def start_hub() -> subprocess.Popen[bytes]:
    say(f"starting a hub in {_shown(HUB)} on port {PORT}")
    log = (DEMO / "hub.out").open("wb")
    args = ["hub", "up", "--dir", str(HUB)]
    if not (HUB / "hub.json").exists():
        args += ["--port", PORT]
    print(f"$ natster {' '.join(args)} &")
    proc = subprocess.Popen([*NATSTER, *args], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not (HUB / "run.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the hub did not start:\n" + (DEMO / "hub.out").read_text())
        time.sleep(0.05)
    return proc


def join(name: str) -> Path:
    home = DEMO / name
    if (home / "context.json").exists():
        say(f"{name} joined on an earlier run")
        return home
    invite = natster("hub", "invite", "--dir", str(HUB)).strip().splitlines()[-1]
    say(f"{name} joins with a single-use invite: {invite}")
    natster("init", invite, "--name", name, home=home)
    return home


def make_media() -> Path:
    say("making some real media (video, audio, pictures, a PDF, text)")
    seconds = int(os.environ.get("NATSTER_DEMO_SECONDS") or 8)  # tests: shorter films
    return media.make_media(DEMO / "media", seconds=seconds)


def background(name: str, home: Path, *args: str, ready: bytes) -> subprocess.Popen[bytes]:
    """Start ``natster ARGS`` as ``home``'s user; wait until its output says ``ready``."""
    env = dict(os.environ, NATSTER_HOME=str(home))
    print(f"$ NATSTER_HOME={_shown(home)} natster {' '.join(args)} &")
    log = DEMO / f"{name}.out"
    proc = subprocess.Popen(
        [*NATSTER, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while ready not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"`natster {' '.join(args)}` did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc


def main() -> None:
    wait = "--no-wait" not in sys.argv  # --no-wait: end after the login link (for scripts)
    joined = [json.loads(ctx.read_text())["url"] for ctx in DEMO.glob("*/context.json")]
    if any(url.startswith("nats://") for url in joined):
        say("the demo's state is from before TLS: starting over")
        shutil.rmtree(DEMO)
    DEMO.mkdir(exist_ok=True)
    hub = start_hub()
    running: list[subprocess.Popen[bytes]] = []
    try:
        alice, bob = (join(name) for name in ("alice", "bob"))
        for home in (alice, bob):
            say(f"who is {home.name}?")
            natster("whoami", home=home)
        folder = make_media()
        say("alice turns her media folder into a catalog")
        if (alice / "catalogs.db").exists() and "demo" in natster(
            "catalog", "local", "--json", home=alice, quiet=True
        ):
            natster("catalog", "rescan", "demo", home=alice)
        else:
            natster("catalog", "new", "demo", "Alice's demo media", str(folder), home=alice)
        say("alice shares it with bob and serves it")
        natster("catalog", "share", "demo", "bob", home=alice)
        running.append(
            background("serve-demo", alice, "catalog", "serve", "demo", ready=b"serving")
        )
        say("bob finds it in his inbox, imports it and looks inside")
        natster("catalog", "inbox", home=bob)
        rows = json.loads(natster("catalog", "ls", "--json", home=bob, quiet=True))
        if not any(r["catalog"] == "demo" and r["imported"] for r in rows):
            natster("catalog", "import", "demo", "alice", home=bob)
        natster("catalog", "ls", home=bob)
        natster("catalog", "contents", "demo", home=bob)
        say("bob downloads the video: end to end encrypted, checked against its sha256")
        downloads = DEMO / "downloads"
        downloads.mkdir(exist_ok=True)
        natster("catalog", "download", "demo", "videos/test-pattern.mp4", str(downloads), home=bob)
        say("the hub")
        natster("hub", "status", "--dir", str(HUB))
        natster("stats", home=bob)
        say(f"bob opens his web UI on port {WEB_PORT}")
        running.append(
            background("web-bob", bob, "web", "--port", WEB_PORT, ready=b"Ctrl-C stops it")
        )
        natster("login", "--no-browser", home=bob)
        if wait:
            print("\nOpen the link above in a browser (single use, 5 minutes; `natster login`")
            print("with NATSTER_HOME=.demo/bob makes another). Ctrl-C stops everything.")
            while all(proc.poll() is None for proc in running):
                time.sleep(0.5)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\ninterrupted")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: we are stopping
        say("stopping the web UI, alice's catalog server and the hub")
        for proc in [*reversed(running), hub]:
            proc.send_signal(signal.SIGINT)
        for proc in [*reversed(running), hub]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("\ndone: run `make demo` again to reuse all of it; `rm -rf .demo` to start over")


if __name__ == "__main__":
    main()
