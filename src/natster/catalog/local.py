"""My catalogs: create, rescan, describe, forget, list and export them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from natster._fs import natster_home
from natster.errors import CatalogError, EntryNotFound, UnsafePath

from .index import CatalogInfo, Entry, Index
from .paths import check_description, check_name, check_relpath
from .scan import Progress, ScanReport, apply_scan

_HEX = re.compile(r"[0-9a-f]{8,64}")
INDEX_FILE = "catalogs.db"


class Catalogs:
    """The catalogs of one ``$NATSTER_HOME`` (use from one thread)."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or natster_home()
        self.index = Index(self.home / INDEX_FILE)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Catalogs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new(
        self, name: str, description: str, path: Path, progress: Progress | None = None
    ) -> ScanReport:
        """Create catalog ``name`` from folder ``path``: it exists only once fully scanned."""
        check_name(name)
        check_description(description)
        root = path.expanduser().resolve()
        if not root.is_dir():
            raise CatalogError(f"{path} is not a folder")
        with self.index.transaction():
            self.index.create(name, description, root)
            report = apply_scan(self.index, name, str(root), progress=progress)
            if report.revision == 0:  # an empty folder: revision 1 all the same
                report.revision = self.index.touch(name)
            return report

    def rescan(self, name: str, progress: Progress | None = None, under: str = "") -> ScanReport:
        root, _ = self.index.root_and_revision(name)
        if not Path(root).is_dir():
            raise CatalogError(f"the folder of catalog {name!r} ({root}) is gone")
        if under:
            check_relpath(under)
        with self.index.transaction():
            return apply_scan(self.index, name, root, progress=progress, under=under)

    def describe(self, name: str, path_or_hash: str, description: str) -> list[str]:
        """Describe the entry at a path, or every entry with that hash (or unique prefix)."""
        check_description(description)
        matches = self.find(name, path_or_hash)
        with self.index.transaction():
            self.index.set_description(name, [e.path for e in matches], description)
        return [e.path for e in matches]

    def find(self, name: str, path_or_hash: str) -> list[Entry]:
        """The entry at a path (``/a/b`` as ``catalog export`` writes it, or ``a/b``), or
        every entry with a hash or a unique prefix of one."""
        self.index.info(name)
        try:
            entry = self.index.get(name, check_relpath(path_or_hash.removeprefix("/")))
        except UnsafePath:
            entry = None
        if entry is not None:
            return [entry]
        if _HEX.fullmatch(path_or_hash):
            if len(path_or_hash) == 64:
                found = self.index.by_hash(name, path_or_hash)
            else:
                found = [e for e in self.index.entries(name) if e.hash.startswith(path_or_hash)]
                if len({e.hash for e in found}) > 1:
                    raise EntryNotFound(f"{path_or_hash!r} matches several files: give more of it")
            if found:
                return found
        raise EntryNotFound(f"no file in {name!r} has the path or hash {path_or_hash!r}")

    def remove(self, name: str) -> None:
        """Forget the catalog. The files in its folder are never touched."""
        with self.index.transaction():
            self.index.remove(name)

    def info(self, name: str) -> CatalogInfo:
        return self.index.info(name)

    def local(self) -> list[CatalogInfo]:
        return [self.index.info(name) for name in self.index.names()]

    def export(self, name: str) -> Iterator[str]:
        """The catalog as JSON in the original Natster's shape, in pieces (any size).

        The original's ``MediaLibrary`` struct: ``last_modified`` is Unix seconds, and an
        entry's path is the file's path with ``root_dir`` cut off (so it starts with
        ``/``). docs/protocol.md lists what differs (descriptions, MIME types).
        """
        info = self.index.info(name)
        head = {
            "name": info.name,
            "root_dir": info.root,
            "description": info.description,
            "last_modified": int(datetime.fromisoformat(info.last_modified).timestamp()),
        }
        yield json.dumps(head)[:-1] + ', "entries": ['
        for i, entry in enumerate(self.index.entries(name)):
            yield ("," if i else "") + "\n  " + json.dumps(entry.export())
        yield "\n]}\n"


__all__ = ["Catalogs", "check_name"]
