"""`make demo`: the natster story on an embedded hub under .demo/.

Runs the real `natster` command, as a person would. Running it again reuses the hub
and the users it made. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

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


def natster(*args: str, home: Path | None = None) -> str:
    env = dict(os.environ)
    if home is not None:
        env["NATSTER_HOME"] = str(home)
    shown = f"NATSTER_HOME={home.relative_to(ROOT)} " if home else ""
    words = " ".join(a if len(a) < 60 else a[:40] + "..." for a in args)
    print(f"$ {shown}natster {words}")
    result = subprocess.run([*NATSTER, *args], env=env, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(result.returncode)
    if result.stdout.strip() and args[:2] != ("hub", "invite"):
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


def main() -> None:
    DEMO.mkdir(exist_ok=True)
    hub = start_hub()
    try:
        homes = [join(name) for name in ("alice", "bob")]
        for home in homes:
            say(f"who is {home.name}?")
            natster("whoami", home=home)
        say("the hub")
        natster("hub", "status", "--dir", str(HUB))
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        say("stopping the hub")
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=15)
    print("\ndone: run `make demo` again to reuse all of it; `rm -rf .demo` to start over")


if __name__ == "__main__":
    main()
