"""People by name in the CLI: share, import and browse by name; tables that show names."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from natster.client.people import label, look_alike_accounts
from natster.names import look_alikes

from .cliworld import hub_process, member, one_line_error, serving
from .conftest import natster

__all__ = ["hub_process"]  # a fixture

NARROW = {"COLUMNS": "80"}


@pytest.mark.heavy
def test_share_import_and_browse_by_name_with_tables_that_show_names(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir = hub_process[0]
    alice = member(hub_dir, tmp_path, "alice")
    bob = member(hub_dir, tmp_path, "Bob Smith")
    member(hub_dir, tmp_path, "carol")
    media = tmp_path / "media"
    (media / "Holidays 2026 with the whole family").mkdir(parents=True)
    (media / "Holidays 2026 with the whole family" / "the long way to the sea.mp4").write_bytes(
        b"\0" * 1000
    )
    (media / "notes.txt").write_text("hello")
    made = natster("catalog", "new", "films", "family films", str(media), home=alice)
    assert made.returncode == 0, made.stderr

    people = json.loads(natster("people", "--json", home=alice).stdout)
    assert [p["name"] for p in people] == ["alice", "Bob Smith", "carol"]
    bob_key = people[1]["account"]
    assert "Bob Smith" in natster("people", "bob", home=alice).stdout

    unknown = one_line_error(natster("catalog", "share", "films", "bo", home=alice))
    assert unknown == "error: nobody on this hub is named 'bo'; did you mean: Bob Smith"
    nobody = one_line_error(natster("catalog", "share", "films", "dave", home=alice))
    assert "nobody on this hub is named 'dave'" in nobody
    own = one_line_error(natster("catalog", "share", "films", "ALICE", home=alice))
    assert "your own account" in own
    shared = natster("catalog", "share", "films", "bob  smith", home=alice)  # case, spaces aside
    assert shared.returncode == 0, shared.stderr
    assert shared.stdout.strip() == "shared films with Bob Smith"
    again = natster("catalog", "share", "films", bob_key, home=alice)  # keys still work
    assert again.stdout.strip() == "shared films with Bob Smith (it already was)"

    with serving(alice, "films"):
        inbox = natster("catalog", "inbox", home=bob, env=NARROW)
        masked = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "YYYY-MM-DD HH:MM", inbox.stdout)
        assert masked == INBOX, inbox.stdout
        imported = natster("catalog", "import", "films", "alice", home=bob)
        assert imported.stdout.strip() == "imported films of alice as films", imported.stderr
        assert natster("catalog", "ls", home=bob, env=NARROW).stdout == BOB_LS
        assert natster("catalog", "ls", home=alice, env=NARROW).stdout == ALICE_LS
        contents = natster("catalog", "contents", "films", "--owner", "alice", home=bob, env=NARROW)
        assert contents.stdout == CONTENTS, contents.stdout
        rows = json.loads(natster("catalog", "ls", "--json", home=bob).stdout)
        assert {(r["owner_name"], r["to_name"]) for r in rows if r["catalog"] == "films"} == {
            ("alice", "Bob Smith")
        }
        assert {r["owner"] for r in rows if r["catalog"] == "films"} == {people[0]["account"]}
        wrong = one_line_error(natster("catalog", "contents", "films", "--owner", "carl", home=bob))
        assert "nobody on this hub is named 'carl'; did you mean: carol" in wrong
        gone = natster("catalog", "unshare", "films", "Bob Smith", home=alice)
        assert gone.stdout.strip() == "films is no longer shared with Bob Smith", gone.stderr
        carol = tmp_path / "carol"
        said = natster("catalog", "inbox", "--decline", "hub", home=carol)
        assert said.stdout.strip() == "declined hub of hub", said.stderr
        said = natster("catalog", "inbox", "--block", "alice", home=carol)
        assert said.stdout.strip() == "alice can no longer share with you", said.stderr
        blocked = one_line_error(natster("catalog", "share", "films", "carol", home=alice))
        assert "that person does not take shares from you" in blocked
        said = natster("catalog", "inbox", "--unblock", "alice", home=carol)
        assert said.stdout.strip() == "alice can share with you again", said.stderr
        assert natster("catalog", "share", "films", "carol", home=alice).returncode == 0
        refused = one_line_error(natster("catalog", "rm", "films", home=alice))
        assert refused == (
            "error: films was not removed: it is shared with carol and `natster catalog "
            "serve` is serving it; `natster catalog rm films --force` unshares it from "
            "everyone and forgets it"
        )
    forced = natster("catalog", "rm", "films", "--force", home=alice)
    assert forced.stdout.splitlines() == [
        "films is no longer shared with carol",
        "catalog films forgotten; its files are untouched",
    ], forced.stderr
    rows = json.loads(natster("catalog", "ls", "--json", home=alice).stdout)
    assert [r["catalog"] for r in rows] == ["hub"]


INBOX = """\
┏━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┓
┃ catalog ┃ owner ┃ description                    ┃ shared at        ┃
┡━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━┩
│ hub     │ hub   │ Welcome material from this hub │ YYYY-MM-DD HH:MM │
│ films   │ alice │ family films                   │ YYYY-MM-DD HH:MM │
└─────────┴───────┴────────────────────────────────┴──────────────────┘
import one with: natster catalog import NAME OWNER (or --decline NAME)
"""

BOB_LS = """\
┏━━━┳━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━┓
┃   ┃ catalog ┃ owner ┃ shared with ┃ imported ┃ rev ┃
┡━━━╇━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━┩
│ ● │ hub     │ hub   │ me          │ no       │ 1   │
│ ● │ films   │ alice │ me          │ yes      │ 1   │
└───┴─────────┴───────┴─────────────┴──────────┴─────┘
"""

ALICE_LS = """\
┏━━━┳━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━┓
┃   ┃ catalog ┃ owner ┃ shared with ┃ imported ┃ rev ┃
┡━━━╇━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━┩
│ ● │ hub     │ hub   │ me          │ no       │ 1   │
│ ● │ films   │ me    │ Bob Smith   │ yes      │ 1   │
└───┴─────────┴───────┴─────────────┴──────────┴─────┘
"""

CONTENTS = """\
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓
┃ path                                    ┃ size   ┃ type       ┃ hash         ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩
│ Holidays 2026 with the whole family/the │ 1000 B │ video/mp4  │ 541b3e9daa09 │
│ long way to the sea.mp4                 │        │            │              │
│ notes.txt                               │ 5 B    │ text/plain │ 2cf24dba5fb0 │
└─────────────────────────────────────────┴────────┴────────────┴──────────────┘
2 files
"""


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "ALICE"),
        ("alice", "\u0430lice"),  # Cyrillic а
        ("alice", "aIice"),  # a capital i
        ("alice", "a1ice"),
        ("ALICE", "aIice"),
        ("bob smith", "Bob  Smith"),
        ("bob", "ｂｏｂ"),  # fullwidth
        ("paypal", "\U0001d52d\U0001d4b6\u1eff\U0001d561\U0001d552\u2113"),  # TR39's example
        ("m", "rn"),
    ],
)
def test_names_that_look_alike_meet(one: str, other: str) -> None:
    assert look_alikes(one) & look_alikes(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [("alice", "alicia"), ("josé", "jose"), ("bob", "rob"), ("李小龍", "李小龙"), ("ann", "anne")],
)
def test_names_that_differ_do_not_meet(one: str, other: str) -> None:
    assert not look_alikes(one) & look_alikes(other)


def test_names_that_still_look_alike_are_shown_with_a_key() -> None:
    """Names from before the hub refused look-alikes: a table tells them apart by key."""
    rows = [("AALICE1", "alice"), ("AALICE2", "\u0430lice"), ("ABOB", "bob"), ("ANONAME", "")]
    alike = look_alike_accounts(rows)
    assert alike == {"AALICE1", "AALICE2"}
    assert label("AALICE1", "alice", "ME", alike) == "alice (AALICE1…)"
    assert label("ABOB", "bob", "ME", alike) == "bob"
    assert label("AALICE2", "\u0430lice", "AALICE2", alike) == "me"
    assert look_alike_accounts([("ABOB", "bob"), ("ABOB", "bob")]) == frozenset()
