"""The catalog index: one SQLite database under ``$NATSTER_HOME``.

SQLite (standard library) in WAL mode: a scan runs in one transaction, so a crash
mid-scan leaves the previous index intact and readable, readers never wait for a
writer, and a rescan touches only the rows that changed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from natster import limits
from natster._clock import now_iso
from natster.errors import CatalogError, CatalogExists, CatalogNotFound
from natster.names import fold

from .facts import MEDIA_SCHEMA, TAG_COLUMNS
from .paths import check_name

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS catalogs (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    root          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    revision      INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS entries (
    catalog     TEXT NOT NULL REFERENCES catalogs(name) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    folded      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (catalog, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_hash ON entries (catalog, hash);
"""
    + MEDIA_SCHEMA
)

# 2: entries.folded (search text), the media table (facts by hash); 3: tags in media
SCHEMA_VERSION = 3
ENTRY_COLUMNS = "path, size, mtime_ns, hash, mime, description"


def searchable(path: str, description: str) -> str:
    """What search matches an entry against: its path and description, folded."""
    return fold(path) + "\n" + fold(description) if description else fold(path)


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    size: int
    mtime_ns: int
    hash: str
    mime: str
    description: str = ""

    def export(self) -> dict[str, object]:
        """The original Natster's entry shape (its paths start with ``/``)."""
        return {
            "path": "/" + self.path,
            "description": self.description,
            "mime_type": self.mime,
            "hash": self.hash,
            "byte_size": self.size,
        }


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    name: str
    description: str
    root: str
    created_at: str
    last_modified: str
    revision: int
    files: int
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "root": self.root,
            "created_at": self.created_at,
            "last_modified": self.last_modified,
            "revision": self.revision,
            "files": self.files,
            "bytes": self.bytes,
        }


class Index:
    """All catalogs of one ``$NATSTER_HOME``. One instance per thread."""

    @classmethod
    def read_only(cls, path: Path) -> Index:
        """A reader's connection (for helper processes): sees the last committed state."""
        index = cls.__new__(cls)
        index._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        index.path = path
        return index

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not path.exists()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=limits.SQLITE_BUSY_S)
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open the catalog index {path}: {exc}") from exc
        if fresh:
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._upgrade()
        self.path = path

    def _upgrade(self) -> None:
        """Bring an index made by an older natster to this schema (once, atomically)."""
        with self.transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                return  # another process did it first
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(entries)")}
            if columns and "folded" not in columns:
                self._db.execute("ALTER TABLE entries ADD COLUMN folded TEXT NOT NULL DEFAULT ''")
                rows = self._db.execute("SELECT catalog, path, description FROM entries")
                self._db.executemany(
                    "UPDATE entries SET folded = ? WHERE catalog = ? AND path = ?",
                    [(searchable(p, d), c, p) for c, p, d in rows.fetchall()],
                )
            for statement in SCHEMA.split(";"):  # not executescript: it would commit
                if statement.strip():
                    self._db.execute(statement)
            had = {r[1] for r in self._db.execute("PRAGMA table_info(media)")}
            added = [c for c in (*TAG_COLUMNS, "folded") if c not in had]
            for column in added:
                kind = "INTEGER" if column in ("track", "year") else "TEXT"
                default = " NOT NULL DEFAULT ''" if column == "folded" else ""
                self._db.execute(f"ALTER TABLE media ADD COLUMN {column} {kind}{default}")
            if added:  # songs and pictures are read again, for their tags
                self._db.execute("DELETE FROM media WHERE kind IN ('audio', 'image')")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def query(self, sql: str, params: Iterable[object] = ()) -> sqlite3.Cursor:
        """A read of the index (for the modules that list and search it)."""
        return self._db.execute(sql, tuple(params))

    def execute_many(self, sql: str, rows: Iterable[Iterable[object]]) -> None:
        """One write statement for many rows (for the modules that keep derived data)."""
        self._db.executemany(sql, [tuple(row) for row in rows])

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an exception (or a kill) leaves the index as it was."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise CatalogError(f"the catalog index is busy (is a scan running?): {exc}") from exc
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- catalogs ------------------------------------------------------------------
    def create(self, name: str, description: str, root: Path) -> None:
        check_name(name)
        stamp = now_iso()
        try:
            self._db.execute(
                "INSERT INTO catalogs (name, description, root, created_at, last_modified,"
                " revision) VALUES (?, ?, ?, ?, ?, 0)",
                (name, description, str(root), stamp, stamp),
            )
        except sqlite3.IntegrityError as exc:
            raise CatalogExists(f"a catalog named {name!r} already exists") from exc

    def exists(self, name: str) -> bool:
        row = self._db.execute("SELECT 1 FROM catalogs WHERE name = ?", (name,)).fetchone()
        return row is not None

    def info(self, name: str) -> CatalogInfo:
        row = self._db.execute(
            "SELECT c.name, c.description, c.root, c.created_at, c.last_modified, c.revision,"
            " (SELECT count(*) FROM entries e WHERE e.catalog = c.name),"
            " (SELECT coalesce(sum(size), 0) FROM entries e WHERE e.catalog = c.name)"
            " FROM catalogs c WHERE c.name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise CatalogNotFound(
                f"there is no catalog named {name!r}: see `natster catalog local`"
            )
        return CatalogInfo(*row)

    def root_and_revision(self, name: str) -> tuple[str, int]:
        """A catalog's folder and revision, without counting its entries."""
        row = self._db.execute(
            "SELECT root, revision FROM catalogs WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise CatalogNotFound(
                f"there is no catalog named {name!r}: see `natster catalog local`"
            )
        return str(row[0]), int(row[1])

    def names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM catalogs ORDER BY name")]

    def remove(self, name: str) -> None:
        self.info(name)
        self._db.execute("DELETE FROM catalogs WHERE name = ?", (name,))

    def touch(self, name: str) -> int:
        """A new revision: the catalog's content changed."""
        self._db.execute(
            "UPDATE catalogs SET revision = revision + 1, last_modified = ? WHERE name = ?",
            (now_iso(), name),
        )
        row = self._db.execute("SELECT revision FROM catalogs WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    # --- entries -------------------------------------------------------------------
    def stat_map(self, name: str, under: str = "") -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every entry (below folder ``under``)."""
        sql = "SELECT path, size, mtime_ns FROM entries WHERE catalog = ?"
        params: tuple[str, ...] = (name,)
        if under:
            prefix = under.rstrip("/") + "/"
            sql += " AND path >= ? AND path < ?"
            params += (prefix, prefix[:-1] + "0")  # "0" sorts right after "/"
        return {path: (size, mtime) for path, size, mtime in self._db.execute(sql, params)}

    def count(self, name: str, under: str = "") -> int:
        prefix = under.rstrip("/") + "/" if under else ""
        row = self._db.execute(
            "SELECT count(*) FROM entries WHERE catalog = ? AND path >= ? AND path < ?",
            (name, prefix, prefix[:-1] + "0" if prefix else "\U0010ffff"),
        ).fetchone()
        return int(row[0])

    def child_folders(self, name: str, under: str = "") -> list[str]:
        """Top-level folders (below ``under``) that hold entries: a skip-scan of the key."""
        prefix = under.rstrip("/") + "/" if under else ""
        end = prefix[:-1] + "0" if prefix else "\U0010ffff"
        folders: list[str] = []
        cursor = prefix
        while True:
            row = self._db.execute(
                "SELECT path FROM entries WHERE catalog = ? AND path > ? AND path < ?"
                " ORDER BY path LIMIT 1",
                (name, cursor, end),
            ).fetchone()
            if row is None:
                return folders
            rest = row[0][len(prefix) :]
            if "/" not in rest:
                cursor = row[0]
                continue
            folder = prefix + rest.split("/", 1)[0]
            folders.append(folder)
            cursor = folder + "0"  # "0" sorts right after "/": past everything inside

    def direct_files(self, name: str, under: str = "") -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of entries directly in ``under``, by skip-scan."""
        prefix = under.rstrip("/") + "/" if under else ""
        end = prefix[:-1] + "0" if prefix else "\U0010ffff"
        found: dict[str, tuple[int, int]] = {}
        cursor = prefix
        while True:
            row = self._db.execute(
                "SELECT path, size, mtime_ns FROM entries WHERE catalog = ? AND path > ?"
                " AND path < ? ORDER BY path LIMIT 1",
                (name, cursor, end),
            ).fetchone()
            if row is None:
                return found
            rest = row[0][len(prefix) :]
            if "/" in rest:
                cursor = prefix + rest.split("/", 1)[0] + "0"  # past that whole folder
            else:
                found[row[0]] = (row[1], row[2])
                cursor = row[0]

    def entries(self, name: str, after: str = "", limit: int | None = None) -> Iterator[Entry]:
        """Entries in path order, starting after ``after`` (for paging)."""
        sql = (
            "SELECT path, size, mtime_ns, hash, mime, description"
            " FROM entries WHERE catalog = ? AND path > ? ORDER BY path"
        )
        params: tuple[object, ...] = (name, after)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        for row in self._db.execute(sql, params):
            yield Entry(*row)

    def page(self, name: str, after: str, limit: int, prefix: str = "") -> list[Entry]:
        """One page of entries in path order, below ``prefix``."""
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE catalog = ? AND path > ?"  # noqa: S608
        params: list[object] = [name, after]
        if prefix:
            sql += " AND path >= ? AND path < ?"
            params += [prefix, prefix + "\U0010ffff"]
        sql += " ORDER BY path LIMIT ?"
        params.append(limit)
        return [Entry(*row) for row in self._db.execute(sql, params)]

    def get(self, name: str, path: str) -> Entry | None:
        row = self._db.execute(
            "SELECT path, size, mtime_ns, hash, mime, description"
            " FROM entries WHERE catalog = ? AND path = ?",
            (name, path),
        ).fetchone()
        return Entry(*row) if row else None

    def by_hash(self, name: str, digest: str) -> list[Entry]:
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, hash, mime, description"
            " FROM entries WHERE catalog = ? AND hash = ? ORDER BY path",
            (name, digest),
        )
        return [Entry(*row) for row in rows]

    def by_paths(self, name: str, paths: Iterable[str]) -> list[Entry]:
        found = []
        for path in paths:
            entry = self.get(name, path)
            if entry is not None:
                found.append(entry)
        return found

    def put(self, name: str, entries: Iterable[Entry]) -> None:
        """Insert or replace entries (one statement for the lot)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO entries"
            " (catalog, path, size, mtime_ns, hash, mime, description, folded)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (name, e.path, e.size, e.mtime_ns, e.hash, e.mime, e.description, folded)
                for e in entries
                for folded in (searchable(e.path, e.description),)
            ],
        )

    def delete(self, name: str, path: str) -> None:
        self._db.execute("DELETE FROM entries WHERE catalog = ? AND path = ?", (name, path))

    def set_description(self, name: str, paths: Iterable[str], description: str) -> None:
        self._db.executemany(
            "UPDATE entries SET description = ?, folded = ? WHERE catalog = ? AND path = ?",
            [(description, searchable(path, description), name, path) for path in paths],
        )
