"""Catalog names and the paths of entries: what is allowed, checked in one place."""

from __future__ import annotations

import os
import re
from pathlib import Path

from natster import limits
from natster.errors import InvalidCatalogName, UnsafePath

_NAME = re.compile(rf"[a-z0-9_-]{{1,{limits.MAX_CATALOG_NAME}}}")


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
    return path


def resolve_inside(root: Path, relpath: str) -> Path:
    """The file ``relpath`` names under ``root``, refusing anything that resolves outside."""
    check_relpath(relpath)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / relpath))
    if target != real_root and real_root not in target.parents:
        raise UnsafePath(f"{relpath!r} leads outside the catalog's folder")
    return target
