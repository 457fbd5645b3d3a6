"""Browsing an index: one folder's children with their counts and sizes, and search.

A folder lists its subfolders first (each with the files and bytes below it), then
its own files, sorted by name, size, type or date, in pages by offset. Search matches
every word of a query, case and accents folded (``names.fold``), against each entry's
path, description and media tags (a song's title, artist, album and year, a picture's
camera and date taken), optionally of one kind of media.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from natster.names import fold

from .facts import FACT_COLUMNS, Facts
from .index import ENTRY_COLUMNS, Entry, Index

Sort = Literal["name", "size", "type", "date"]
SearchKind = Literal["video", "audio", "image", "document"]
SORTS: tuple[str, ...] = get_args(Sort)
KINDS: tuple[str, ...] = get_args(SearchKind)

_FILE_ORDER = {
    "name": "e.path COLLATE NOCASE {d}, e.path",
    "size": "e.size {d}, e.path",
    "type": "e.mime {d}, e.path COLLATE NOCASE",
    "date": "e.mtime_ns {d}, e.path",
}
_KIND_SQL = {
    "video": "e.mime LIKE 'video/%'",
    "audio": "e.mime LIKE 'audio/%'",
    "image": "e.mime LIKE 'image/%'",
    "document": "(e.mime LIKE 'text/%' OR e.mime IN ('application/pdf', 'application/json',"
    " 'application/epub+zip', 'application/rtf', 'application/msword'))",
}
_COLUMNS = ", ".join(
    [f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(",")]
    + [f"m.{c.strip()}" for c in FACT_COLUMNS.split(",")]
)
_SELECT = f"SELECT {_COLUMNS} FROM entries e LEFT JOIN media m ON m.hash = e.hash"  # noqa: S608


@dataclass(frozen=True, slots=True)
class Folder:
    path: str  # its full path in the catalog, without a trailing "/"
    files: int  # every file below it
    bytes: int
    mtime_ns: int  # its newest file's


@dataclass(frozen=True, slots=True)
class Listed:
    entry: Entry
    facts: Facts | None


@dataclass(frozen=True, slots=True)
class FolderListing:
    folders: list[Folder]  # of this page
    files: list[Listed]  # of this page
    total: int  # folders and files directly in it, on every page


def _listed(row: tuple[object, ...]) -> Listed:
    entry = Entry(*row[:6])  # type: ignore[arg-type]
    kind = row[6]
    facts = Facts(*row[6:]) if kind is not None else None  # type: ignore[arg-type]
    return Listed(entry, facts)


def _bounds(path: str) -> tuple[str, str]:
    prefix = path.rstrip("/") + "/" if path else ""
    return prefix, prefix[:-1] + "0" if prefix else "\U0010ffff"  # "0" sorts after "/"


def subfolders(index: Index, catalog: str, path: str) -> list[Folder]:
    """The folders directly in ``path`` ("" is the top), each with what is below it."""
    prefix, end = _bounds(path)
    start = len(prefix) + 1
    rows = index.query(
        "SELECT substr(path, 1, ? + instr(substr(path, ?), '/') - 2), count(*), sum(size),"
        " max(mtime_ns) FROM entries WHERE catalog = ? AND path >= ? AND path < ?"
        " AND instr(substr(path, ?), '/') > 0 GROUP BY 1",
        (start, start, catalog, prefix, end, start),
    )
    return [Folder(p, n, b, m) for p, n, b, m in rows]


def folder(
    index: Index,
    catalog: str,
    path: str,
    *,
    sort: Sort = "name",
    reverse: bool = False,
    offset: int = 0,
    limit: int = 500,
) -> FolderListing:
    """One page of a folder: its subfolders first, then its files, each sorted."""
    folders = subfolders(index, catalog, path)
    key = {
        "name": lambda f: (f.path.casefold(), f.path),
        "size": lambda f: (f.bytes, f.path),
        "type": lambda f: (f.path.casefold(), f.path),  # folders have no type: by name
        "date": lambda f: (f.mtime_ns, f.path),
    }[sort]
    folders.sort(key=key, reverse=reverse and sort != "type")
    prefix, end = _bounds(path)
    start = len(prefix) + 1
    where = "e.catalog = ? AND e.path >= ? AND e.path < ? AND instr(substr(e.path, ?), '/') = 0"
    params: tuple[object, ...] = (catalog, prefix, end, start)
    counted = index.query(f"SELECT count(*) FROM entries e WHERE {where}", params)  # noqa: S608
    direct = counted.fetchone()[0]
    shown_folders = folders[offset : offset + limit]
    files: list[Listed] = []
    room = limit - len(shown_folders)
    if room > 0:
        skip = max(0, offset - len(folders))
        order = _FILE_ORDER[sort].format(d="DESC" if reverse else "ASC")
        rows = index.query(
            f"{_SELECT} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", (*params, room, skip)
        )
        files = [_listed(row) for row in rows]
    return FolderListing(shown_folders, files, len(folders) + int(direct))


def search(
    index: Index,
    catalog: str,
    text: str,
    *,
    kind: SearchKind | None = None,
    prefix: str = "",
    after: str = "",
    limit: int = 500,
) -> list[Listed]:
    """Entries in path order (after ``after``) whose path, description or tags hold every
    word of ``text``, case and accents folded; of one ``kind`` of media if given."""
    words = fold(text).split()
    sql = f"{_SELECT} WHERE e.catalog = ? AND e.path > ?"
    params: list[object] = [catalog, after]
    if prefix:
        sql += " AND e.path >= ? AND e.path < ?"
        params += [prefix, prefix + "\U0010ffff"]
    for word in words:  # in the path, the description, or the tags
        sql += " AND (e.folded || char(10) || coalesce(m.folded, '')) LIKE ? ESCAPE '\\'"
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    if kind is not None:
        sql += f" AND {_KIND_SQL[kind]}"
    sql += " ORDER BY e.path LIMIT ?"
    params.append(limit)
    return [_listed(row) for row in index.query(sql, params)]
