"""The natster command as people run it: real processes, signals, exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import warm_cli
from .cliworld import hub_process, member, one_line_error
from .conftest import NATSTER, free_port, natster

__all__ = ["hub_process"]  # a fixture


def _qr(text: str) -> str:
    """The QR code of ``text`` as `hub invite` prints it."""
    import io

    import segno

    printed = io.StringIO()
    segno.make(text, error="l").terminal(out=printed, compact=True)
    return printed.getvalue()


@pytest.mark.heavy
def test_the_whole_join_story(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir, proc = hub_process
    said = (tmp_path / "hub.err").read_text()  # how to open it up, said at once
    assert "only this machine can reach the hub (127.0.0.1)" in said
    assert "--host 0.0.0.0 --advertise tls://YOUR-ADDRESS:" in said
    invite = natster("hub", "invite", "--dir", str(hub_dir))
    assert invite.returncode == 0, invite.stderr
    text = invite.stdout.strip().splitlines()[-1]  # words@127.0.0.1:PORT/PIN, one line
    assert re.fullmatch(r"[a-z]+(-[a-z]+){3}@127\.0\.0\.1:\d+/[0-9a-f]{20}", text), text
    assert len(text) < 80
    assert "natster init INVITE" in invite.stderr
    assert _qr(text) in invite.stderr  # the QR printed is the QR of exactly that text

    alice = tmp_path / "alice"  # the invite on stdin: never in the process list
    joined = natster("init", "--name", "alice", home=alice, input=text + "\n")
    assert joined.returncode == 0, joined.stderr
    me = json.loads(natster("whoami", "--json", home=alice).stdout)
    assert me["name"] == "alice"
    assert me["account"].startswith("A")
    assert me["url"].startswith("tls://127.0.0.1:")
    assert "Traceback" not in natster("whoami", home=alice).stderr

    again = one_line_error(natster("init", text, home=tmp_path / "bob"))
    assert "used already" in again
    assert not (tmp_path / "bob").exists()
    garbage = one_line_error(
        natster("init", "--invite", "natster-invite-xyz", home=tmp_path / "carol")
    )
    assert "invite" in garbage
    empty = one_line_error(natster("init", home=tmp_path / "dave", input=""))
    assert "no invite given" in empty

    long = natster("hub", "invite", "--dir", str(hub_dir), "--long", "--json")
    as_json = json.loads(long.stdout)
    assert as_json["invite"].startswith("natster-invite-")
    bob = natster("init", "--invite", as_json["invite"], "--name", "bob", home=tmp_path / "bob")
    assert bob.returncode == 0, bob.stderr
    reused = one_line_error(natster("init", as_json["invite"], home=tmp_path / "eve"))
    assert "already used" in reused
    clash = one_line_error(natster("rename", "ALICE", home=tmp_path / "bob"))
    assert "the name 'ALICE' is taken on this hub" in clash
    assert "'ALICE2' or 'ALICE3' is free" in clash  # did you mean
    renamed = natster("rename", "robert", home=tmp_path / "bob")
    assert renamed.stdout.strip() == "you are now robert on the hub (were bob)", renamed.stderr
    assert json.loads(natster("whoami", "--json", home=tmp_path / "bob").stdout)["name"] == "robert"

    status = json.loads(natster("hub", "status", "--dir", str(hub_dir), "--json").stdout)
    assert status["running"] is True
    assert status["accounts"] == 2
    assert [(n["name"], n["up"]) for n in status["nodes"]] == [("natster-hub", True)]
    assert status["nodes"][0]["connections"] >= 3  # the hub's services, the catalog server
    events = next(s for s in status["streams"] if s["name"] == "NATSTER_EVENTS")
    assert (events["replicas"], events["account"]) == (1, "global")
    table = natster("hub", "status", "--dir", str(hub_dir))
    assert "NATSTER_EVENTS" in table.stdout
    assert "natster-hub (this one)" in table.stdout

    rows = json.loads(natster("catalog", "ls", "--json", home=alice).stdout)
    assert [(r["catalog"], r["to"], r["online"]) for r in rows] == [("hub", me["account"], True)]
    numbers = json.loads(natster("stats", "--json", home=alice).stdout)
    assert numbers == {"accounts": 2, "catalogs_online": 1, "shares": 2}  # as hub status
    assert "2 (people; the hub's own account is not counted)" in natster("stats", home=alice).stdout
    hub_key = rows[0]["owner"]
    inbox = json.loads(natster("catalog", "inbox", "--json", home=alice).stdout)
    assert [(r["catalog"], r["owner"], r["online"]) for r in inbox] == [("hub", hub_key, True)]
    imported = natster("catalog", "import", "hub", "hub", home=alice)  # its owner by name
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(natster("catalog", "contents", "hub", "--json", home=alice).stdout)
    assert [e["path"] for e in listed] == ["hello.txt"]
    assert "initialized at" in natster("whoami", home=alice).stdout
    rebuilt = json.loads(natster("hub", "rebuild", "--dir", str(hub_dir), "--json").stdout)
    assert rebuilt["events"] >= 5
    assert json.loads(natster("stats", "--json", home=alice).stdout) == numbers

    extra = warm_cli.Popen(
        [*NATSTER, "hub", "global", "--dir", str(hub_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "running" in (extra.stdout.readline() if extra.stdout else "")
        assert json.loads(natster("stats", "--json", home=alice).stdout) == numbers
    finally:
        extra.send_signal(signal.SIGTERM)
        extra_out, extra_err = extra.communicate(timeout=15)
    assert extra.returncode == 0, extra_err
    assert "stopped" in extra_out

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "hub stopped" in out
    status = json.loads(natster("hub", "status", "--dir", str(hub_dir), "--json").stdout)
    assert status["running"] is False
    server_pid = None  # the server child must be gone too
    log = (hub_dir / "nats.log").read_text()
    assert "Server Exiting" in log, server_pid


@pytest.mark.heavy
def test_errors_are_one_line(tmp_path: Path) -> None:
    line = one_line_error(natster("whoami", home=tmp_path / "nobody"))
    assert "natster init" in line
    line = one_line_error(natster("hub", "invite", "--dir", str(tmp_path / "nohub")))
    assert "hub" in line
    line = one_line_error(
        natster(
            "hub",
            "up",
            "--dir",
            str(tmp_path / "h"),
            env={"NATSTER_NATS_SERVER": str(tmp_path / "missing")},
        )
    )
    assert "NATSTER_NATS_SERVER" in line
    line = one_line_error(natster("hub", "invite", "--dir", str(tmp_path), "--ttl", "soon"))
    assert "duration" in line


def test_sigint_stops_the_hub_cleanly(hub_process: tuple[Path, subprocess.Popen[str]]) -> None:
    hub_dir, proc = hub_process
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    err = (hub_dir.parent / "hub.err").read_text()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not (hub_dir / "run.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_founding_node_waiting_for_its_peers_stops_at_once(tmp_path: Path, sig: int) -> None:
    """A cluster's first node waits for a second before JetStream answers; a signal
    then stops it (and its nats-server) within 5 s, not when a supervisor kills it."""
    hub_dir = tmp_path / "n1"
    args = ["hub", "up", "--dir", str(hub_dir), "--port", str(free_port())]
    proc = subprocess.Popen(
        [*NATSTER, *args, "--cluster-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (hub_dir / "run.json").exists():  # nats-server runs: JetStream waits
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1)
        assert proc.poll() is None  # still waiting for a peer
        proc.send_signal(sig)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert took < 5, err
    assert proc.returncode == 0, err
    assert "hub stopped" in out
    assert "Traceback" not in err
    assert not (hub_dir / "run.json").exists()
    assert "Server Exiting" in (hub_dir / "nats.log").read_text()


@pytest.mark.heavy
def test_a_single_node_hub_says_how_clusters_are_made(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir, _proc = hub_process
    line = one_line_error(natster("hub", "node", "invite", "--dir", str(hub_dir)))
    assert "runs as a single node" in line
    assert "--cluster-port" in line
    bad = natster("hub", "up", "--dir", str(tmp_path / "n2"), "--join", "natster-node-xyz")
    assert "damaged" in one_line_error(bad)
    assert not (tmp_path / "n2").exists()


@pytest.mark.heavy
def test_catalog_commands(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    (media / "sub" / "a.txt").write_text("hello")
    home = tmp_path / "home"
    made = natster("catalog", "new", "films", "my films", str(media), "--json", home=home)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["added"] == 1
    rows = json.loads(natster("catalog", "local", "--json", home=home).stdout)
    assert [(r["name"], r["files"], r["bytes"]) for r in rows] == [("films", 1, 5)]
    exported = json.loads(natster("catalog", "export", "films", home=home).stdout)
    path = exported["entries"][0]["path"]
    assert path == "/sub/a.txt"
    described = natster("catalog", "describe", "films", path, "a greeting", home=home)
    assert described.returncode == 0, described.stderr
    exported = json.loads(natster("catalog", "export", "films", home=home).stdout)
    assert exported["entries"][0]["description"] == "a greeting"
    (media / "b.txt").write_text("more")
    rescanned = json.loads(natster("catalog", "rescan", "films", "--json", home=home).stdout)
    assert rescanned["added"] == 1
    assert rescanned["revision"] == 2

    line = one_line_error(natster("catalog", "new", "Films!", "x", str(media), home=home))
    assert "lowercase letters, digits" in line
    line = one_line_error(natster("catalog", "new", "films", "x", str(media), home=home))
    assert "already exists" in line
    line = one_line_error(natster("catalog", "rm", "nope", home=home))
    assert "no catalog" in line
    assert natster("catalog", "rm", "films", home=home).returncode == 0
    assert (media / "sub" / "a.txt").read_text() == "hello"


@pytest.mark.heavy
def test_a_killed_hub_leaves_no_server_behind(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir, proc = hub_process
    server_pid = json.loads((hub_dir / "run.json").read_text())["server_pid"]
    proc.kill()  # no chance to clean up
    proc.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{server_pid}").exists():
        status = Path(f"/proc/{server_pid}/status").read_text()
        if "State:\tZ" in status:  # exited, waiting for its reaper
            break
        assert time.monotonic() < deadline, "nats-server outlived its hub"
        time.sleep(0.05)
    again = warm_cli.Popen(
        [*NATSTER, "hub", "up", "--dir", str(hub_dir)],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "again.err").open("w"),
        text=True,
    )
    try:
        assert again.stdout is not None
        assert any(line.startswith("invite someone") for line in again.stdout)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=15)


@pytest.mark.heavy
def test_a_device_is_added_listed_and_revoked(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir, _proc = hub_process
    alice = member(hub_dir, tmp_path)
    phone = tmp_path / "phone"
    adding = warm_cli.Popen(
        [*NATSTER, "device", "add", "phone", "--read-only", "--expires", "7d"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NATSTER_HOME": str(alice)},
    )
    try:
        assert adding.stdout is not None
        code, printed = "", []
        deadline = time.monotonic() + 30
        while not code:
            line = adding.stdout.readline()
            printed.append(line)
            assert line or time.monotonic() < deadline, "device add printed no code"
            if "natster init --device" in line:
                code = line.split("--device", 1)[1].strip()
        assert "@" in code  # short, as an invite: words@hub/pin
        assert len(code) < 80
        # the code travels on standard input: it holds a secret for ten minutes
        joined = natster("init", "--device", "-", home=phone, input=code)
        assert joined.returncode == 0, joined.stderr
        assert "read-only device of alice" in joined.stdout
        rest, errors = adding.communicate(timeout=30)
        assert adding.returncode == 0, errors
        assert "added phone: read-only" in rest
        lines = "".join(printed).splitlines() + rest.splitlines()
        qr = [line for line in lines if "█" in line or "▀" in line or "▄" in line]
        assert qr, lines  # the code's QR, for a phone's camera...
        assert max(len(line) for line in qr) <= 80  # ...within an 80-column terminal
    finally:
        adding.kill()
    assert not (phone / "account.nk").exists()
    listed = json.loads(natster("device", "ls", "--json", home=alice).stdout)
    assert [d["name"] for d in listed] == ["this machine", "phone"]
    assert listed[1]["rights"] == "read-only"
    assert listed[1]["expires_at"] > time.time() + 6 * 86400
    assert natster("whoami", home=phone).returncode == 0  # the device works
    refused = one_line_error(natster("device", "revoke", "phone", home=phone))
    assert "account key" in refused  # devices are managed from the key's machine
    assert natster("device", "revoke", "phone", home=alice).returncode == 0
    said = natster("whoami", home=phone).stdout  # local facts, then the hub's word
    assert "revoked or has expired" in said


def test_version_names_natster_and_its_nats_server() -> None:
    from natster import __version__

    said = natster("--version")
    assert said.returncode == 0, said.stderr
    first, second = said.stdout.splitlines()
    assert first == f"natster {__version__}"
    assert re.fullmatch(r"nats-server 2\.\d+\.\d+\S* \(.+nats-server\)", second), second


def test_commands_import_only_what_they_use() -> None:
    """--help loads no network or web code; a download never loads the web stack."""
    probe = (
        "import sys, natster.cli; print(sorted(m for m in ('asyncio', 'nats', 'rich.table', "
        "'fastapi', 'natster.client._client') if m in sys.modules)); "
        "import natster.cli.transfer, natster.client.download, natster.cli._progress; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'natster.web') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == ["[]", "[]"], result.stdout


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _leaves(sub, (*path, name))


def test_every_help_text_is_written_for_people() -> None:
    """No Python type labels, every value named, every option and argument explained."""
    from natster.cli import command

    root = command()
    checked = 0
    for path, leaf in _leaves(root):
        parent = root.make_context("natster", list(path[:-1]) or [], resilient_parsing=True)
        ctx = leaf.make_context(path[-1], [], parent=parent, resilient_parsing=True)
        text = leaf.get_help(ctx)
        where = "natster " + " ".join(path)
        assert not re.search(r"<(str|bool|int|path|float)", text), f"{where}: {text}"
        assert not re.search(r" [.,;:]", text.replace("...", "")), f"{where}: {text}"
        for param in leaf.params:
            assert getattr(param, "help", None), f"{where}: {param.name} has no description"
        checked += 1
    assert checked >= 30


def test_an_invite_typed_at_the_prompt_shows_as_typed(tmp_path: Path) -> None:
    """Four words typed blind go wrong: the prompt on a terminal echoes what is typed."""
    import pty
    import select

    words = "latin-exotic-baby-balcony@127.0.0.1:1"  # nothing listens on port 1
    leader, follower = pty.openpty()
    env = {**os.environ, "NATSTER_HOME": str(tmp_path / "typed")}
    proc = subprocess.Popen(
        [*NATSTER, "init"], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    seen, typed, named = b"", False, False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process ended and its terminal with it
                break
            if not chunk:
                break
            seen += chunk
            if not typed and b"type your invite" in seen:
                os.write(leader, words.encode() + b"\n")
                typed = True
            if not named and b"Your name, as others on the hub will see it" in seen:
                os.write(leader, b"Tess\n")  # asked, not taken from the login
                named = True
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert typed, text
    assert named, text
    assert words in text  # echoed by the terminal, as typed
    assert code == 1, text
    assert "Traceback" not in text


def test_hub_status_prints_words_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from natster.cli.hub import _print_health

    facts = {
        "node": "n1",
        "nodes": [
            {"name": "n1", "up": True, "connections": 3, "routes": 2},
            {"name": "n2 [bold]x[/]", "up": False, "connections": 0, "routes": 0},
        ],
        "streams": [],
    }
    _print_health(facts)
    shown = capsys.readouterr().out
    assert "[green]" not in shown
    assert "[red]" not in shown
    assert " up " in shown
    assert " down " in shown
    assert "n2 [bold]x[/]" in shown  # a node's name as it is, never read as markup


def test_natster_web_says_it_listens_once_natster_login_finds_it(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    bob = member(hub_process[0], tmp_path, "bob")
    port = free_port()
    web = warm_cli.Popen(
        [*NATSTER, "web", "--port", str(port)],
        env={**os.environ, "NATSTER_HOME": str(bob)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stderr is not None
        for line in web.stderr:  # ends if the process dies
            if line.strip() == "Ctrl-C stops it":
                break
        assert (bob / "web.json").exists()  # what `natster login` looks for
        signed = natster("login", "--no-browser", home=bob)
        assert signed.returncode == 0, signed.stderr
        link = signed.stdout.strip().splitlines()[-1]
        assert link.startswith(f"http://127.0.0.1:{port}/login?code=")
    finally:
        web.send_signal(signal.SIGINT)
        web.wait(timeout=15)
