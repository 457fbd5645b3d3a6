"""Walking a catalog's folder: every regular file, as a catalog path, or why not."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

IGNORE_FILE = ".natsterignore"

# What operating systems and tools leave in folders: never catalogued, never a problem.
JUNK = frozenset(
    {
        ".DS_Store",
        ".AppleDouble",
        ".LSOverride",
        ".Spotlight-V100",
        ".Trashes",
        ".fseventsd",
        ".TemporaryItems",
        ".DocumentRevisions-V100",
        ".localized",
        ".directory",
        "Thumbs.db",
        "ehthumbs.db",
        "desktop.ini",
        "Desktop.ini",
        "$RECYCLE.BIN",
        "System Volume Information",
        "@eaDir",
        ".natster-mirror",
        IGNORE_FILE,
    }
)


class Ignore:
    """What a walk leaves out: the junk above, ``._*`` (macOS resource forks),
    ``.natster-*`` (natster's own temporary files), and the patterns of the folder's
    ``.natsterignore``: one per line, ``#`` for comments; a pattern without ``/``
    matches a name at any depth, one with ``/`` a path from the folder; a final ``/``
    matches folders only; ``*``, ``?`` and ``[...]`` as in shells."""

    def __init__(self, patterns: list[str]) -> None:
        names: list[re.Pattern[str]] = []
        paths: list[re.Pattern[str]] = []
        self.folder_names: list[re.Pattern[str]] = []
        self.folder_paths: list[re.Pattern[str]] = []
        for line in patterns:
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            folders_only = pattern.endswith("/")
            pattern = pattern.strip("/")
            if not pattern:
                continue
            compiled = re.compile(fnmatch.translate(pattern))
            if "/" in pattern:
                (self.folder_paths if folders_only else paths).append(compiled)
            else:
                (self.folder_names if folders_only else names).append(compiled)
        self.names, self.paths = names, paths

    @classmethod
    def of(cls, root: str) -> Ignore:
        try:
            with open(os.path.join(root, IGNORE_FILE), encoding="utf-8") as handle:
                return cls(handle.read(64 * 1024).splitlines())
        except (OSError, UnicodeDecodeError):
            return cls([])

    def __call__(self, name: str, rel: str, folder: bool) -> bool:
        if name in JUNK or name.startswith(("._", ".natster-")):
            return True
        if any(p.match(name) for p in self.names) or any(p.match(rel) for p in self.paths):
            return True
        return folder and (
            any(p.match(name) for p in self.folder_names)
            or any(p.match(rel) for p in self.folder_paths)
        )


# (catalog path, path to open, size, mtime_ns): a plain tuple, since a walk makes
# hundreds of thousands of them and an unchanged rescan is mostly this loop.
Found = tuple[str, str, int, int]


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def walk(
    root: str,
    skipped: list[Skipped],
    under: str = "",
    folders: list[str] | None = None,
) -> Iterator[Found]:
    """Regular files below ``root`` (or its subfolder ``under``), as catalog paths.

    Junk and what ``.natsterignore`` names are left out (:class:`Ignore`). Links are
    followed only to regular files inside the root; links to folders are not followed
    (no loops, no duplicates of whole trees). With ``folders``, only the files directly
    in ``under`` are yielded and its subfolders are appended there.
    """
    real_root = os.path.realpath(root)
    ignored = Ignore.of(real_root)
    stack = [(under + "/" if under else "", os.path.join(real_root, under) if under else real_root)]
    while stack:
        prefix, abs_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except FileNotFoundError:
            continue
        except OSError as exc:
            where = prefix.rstrip("/") or "."
            skipped.append(Skipped(where, f"folder cannot be read ({exc.strerror})"))
            continue
        for item in entries:
            name = item.name
            rel = prefix + name
            if "\\" in name or not name.isprintable():
                skipped.append(Skipped(repr(rel)[1:-1], _name_problem(name)))
                continue
            try:
                # Most entries are plain files: d_type answers without a syscall.
                if ignored(name, rel, item.is_dir(follow_symlinks=False)):
                    continue
                if item.is_file(follow_symlinks=False):
                    st = item.stat(follow_symlinks=False)
                    yield (rel, item.path, st.st_size, st.st_mtime_ns)
                    continue
                if item.is_dir(follow_symlinks=False):
                    if folders is None:
                        stack.append((rel + "/", item.path))
                    else:
                        folders.append(rel)
                    continue
                found = _special(item, rel, real_root)
            except FileNotFoundError:
                found = "vanished during the scan"
            except OSError as exc:
                found = f"cannot be read ({exc.strerror})"
            if isinstance(found, str):
                skipped.append(Skipped(rel, found))
            else:
                yield found


def _name_problem(name: str) -> str:
    if "\\" in name:
        return "its name has a backslash"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return "its name has control characters"


def _special(item: os.DirEntry[str], rel: str, real_root: str) -> Found | str:
    """A link or something stranger: followed only to a regular file inside the root."""
    if not item.is_symlink():
        return "not a regular file (socket, pipe or device)"
    target = os.path.realpath(item.path)
    if not _inside(target, real_root):
        return "link points outside the catalog's folder"
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return "broken link"
    if stat.S_ISDIR(st.st_mode):
        return "links to folders are not followed"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return (rel, target, st.st_size, st.st_mtime_ns)
