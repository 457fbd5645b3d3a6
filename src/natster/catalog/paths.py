"""Entry paths on disk: a catalog path resolved under its root, never outside it."""

from __future__ import annotations

import os
from pathlib import Path

from natster.errors import UnsafePath
from natster.names import check_description, check_name, check_relpath

__all__ = ["check_description", "check_name", "check_relpath", "resolve_inside"]


def resolve_inside(root: Path, relpath: str) -> Path:
    """The file ``relpath`` names under ``root``, refusing anything that resolves outside."""
    check_relpath(relpath)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / relpath))
    if target != real_root and real_root not in target.parents:
        raise UnsafePath(f"{relpath!r} leads outside the catalog's folder")
    return target
