"""`make demo`: the natster story on an embedded hub under .demo/.

Runs the real `natster` command, as a person would. Running it again reuses the hub
and the users it made. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
HUB = DEMO / "hub"
PORT = os.environ.get("NATSTER_DEMO_PORT", "4242")
NATSTER = [sys.executable, "-m", "natster"]


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def natster(*args: str, home: Path | None = None, quiet: bool = False) -> str:
    env = dict(os.environ)
    if home is not None:
        env["NATSTER_HOME"] = str(home)
    shown = f"NATSTER_HOME={home.relative_to(ROOT)} " if home else ""
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
    say(f"starting a hub in {HUB.relative_to(ROOT)} on port {PORT}")
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
    say(f"{name} joins with a single-use invite")
    invite = natster("hub", "invite", "--dir", str(HUB)).strip().splitlines()[-1]
    natster("init", "--invite", invite, "--name", name, home=home)
    return home


def account_of(home: Path) -> str:
    return str(json.loads((home / "context.json").read_text())["account"])


def make_media() -> Path:
    media = DEMO / "media"
    (media / "notes").mkdir(parents=True, exist_ok=True)
    (media / "notes" / "welcome.txt").write_text("Hello from alice's machine.\n")
    (media / "notes" / "recipe.md").write_text("# Pancakes\n\nFlour, milk, eggs.\n")
    (media / "data.bin").write_bytes(bytes(range(256)) * 64)
    return media


def serve(home: Path, catalog: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, NATSTER_HOME=str(home))
    print(f"$ NATSTER_HOME={home.relative_to(ROOT)} natster catalog serve {catalog} &")
    log = (DEMO / f"serve-{catalog}.out").open("wb")
    proc = subprocess.Popen(
        [*NATSTER, "catalog", "serve", catalog], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 15
    while b"serving" not in (DEMO / f"serve-{catalog}.out").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the catalog server did not start")
        time.sleep(0.05)
    return proc


def main() -> None:
    DEMO.mkdir(exist_ok=True)
    hub = start_hub()
    server = None
    try:
        alice, bob = (join(name) for name in ("alice", "bob"))
        for home in (alice, bob):
            say(f"who is {home.name}?")
            natster("whoami", home=home)
        say("alice turns a folder into a catalog")
        media = make_media()
        if (alice / "catalogs.db").exists() and "demo" in natster(
            "catalog", "local", "--json", home=alice, quiet=True
        ):
            natster("catalog", "rescan", "demo", home=alice)
        else:
            natster("catalog", "new", "demo", "Alice's demo media", str(media), home=alice)
        say("alice shares it with bob and serves it")
        natster("catalog", "share", "demo", account_of(bob), home=alice)
        server = serve(alice, "demo")
        say("bob finds it in his inbox, imports it and looks inside")
        natster("catalog", "inbox", home=bob)
        rows = json.loads(natster("catalog", "ls", "--json", home=bob, quiet=True))
        if not any(r["catalog"] == "demo" and r["imported"] for r in rows):
            natster("catalog", "import", "demo", account_of(alice), home=bob)
        natster("catalog", "ls", home=bob)
        natster("catalog", "contents", "demo", home=bob)
        say("the hub")
        natster("hub", "status", "--dir", str(HUB))
        natster("stats", home=bob)
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        if server is not None:
            say("alice stops serving")
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)
        say("stopping the hub")
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=15)
    print("\ndone: run `make demo` again to reuse all of it; `rm -rf .demo` to start over")


if __name__ == "__main__":
    main()
