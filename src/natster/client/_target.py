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
