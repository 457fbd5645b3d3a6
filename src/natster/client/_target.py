"""Where a download lands: a peer's path, checked before it touches the disk.

A catalog server chooses its entries' paths, and a hostile one would choose
``../../.bashrc``. Every path from a peer is a catalog path (relative, no ``..``, no
control characters: :func:`natster.names.check_relpath`), lands inside the output
folder, and is never written through a symbolic link already there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from natster.errors import UnsafePath
from natster.names import MAX_FILE_NAME_BYTES, check_relpath

PART_SUFFIX = ".part"
_DOUBLE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst")


def inside(root: Path, peer_path: str) -> Path:
    """``root / peer_path``, refused if it would leave ``root`` or pass through a link."""
    check_relpath(peer_path)
    here = root
    for name in peer_path.split("/")[:-1]:
        here = here / name
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            break  # created later, as a real folder
        if stat.S_ISLNK(mode):
            raise UnsafePath(f"{here} is a symbolic link: natster never writes through one")
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{here} is in the way: it is not a folder")
    return root / peer_path


def file_name(peer_path: str) -> str:
    """The last part of a peer's path, for a single download's default name."""
    return check_relpath(peer_path).rsplit("/", 1)[-1]


def part_of(final: Path, file_hash: str) -> Path:
    """The ``.part`` file a download grows in, beside ``final``.

    ``<name>.part`` where that fits the file system's 255 bytes; for a longer name, a
    hidden name made of the file's hash (still the same on every run, so it resumes).
    """
    name = final.name + PART_SUFFIX
    if len(name.encode()) > MAX_FILE_NAME_BYTES:
        name = f".natster-{file_hash[:32]}{PART_SUFFIX}"
    return final.with_name(name)


def is_regular(path: Path) -> bool:
    """A regular file itself, not a link to one (a link is never trusted or written through)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def free_name(final: Path) -> Path:
    """``name (1).ext``, ``name (2).ext``, ... beside ``final``: the first not taken (as a
    browser names a second download of the same file; ``.tar.gz`` stays whole)."""
    name = final.name
    whole = [s for s in _DOUBLE_SUFFIXES if name.lower().endswith(s) and len(name) > len(s)]
    dot = name.rfind(".")  # at 0, a hidden file's name, not an extension
    cut = len(name) - len(whole[0]) if whole else (dot if dot > 0 else len(name))
    stem, suffix = name[:cut], name[cut:]
    for n in range(1, 10_000):
        candidate = final.with_name(f"{stem} ({n}){suffix}")
        if not os.path.lexists(candidate):
            return candidate
    raise UnsafePath(f"too many copies of {name} in {final.parent}: choose another name")
