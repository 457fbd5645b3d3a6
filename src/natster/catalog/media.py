"""The index's media facts: which files still need them, and keeping them (by hash)."""

from __future__ import annotations

from collections.abc import Iterable

from .facts import FACT_COLUMNS, Facts
from .index import Index

_MISSING = (
    "SELECT e.path, e.hash, e.mime FROM entries e LEFT JOIN media m ON m.hash = e.hash"
    " WHERE e.catalog = ? AND m.hash IS NULL AND (e.mime LIKE 'image/%'"
    " OR e.mime LIKE 'video/%' OR e.mime LIKE 'audio/%') GROUP BY e.hash LIMIT ?"
)


def missing(index: Index, catalog: str, limit: int) -> list[tuple[str, str, str]]:
    """(path, hash, mime) of up to ``limit`` media files of ``catalog`` without facts."""
    rows = index.query(_MISSING, (catalog, limit))
    return [(str(p), str(h), str(m)) for p, h, m in rows]


def record(index: Index, found: Iterable[tuple[str, Facts]]) -> None:
    """Keep facts by content hash (the same bytes have them in every catalog)."""
    columns = f"hash, {FACT_COLUMNS}, folded"
    marks = ", ".join("?" * len(columns.split(",")))
    index.execute_many(
        f"INSERT OR REPLACE INTO media ({columns}) VALUES ({marks})",  # noqa: S608
        [(digest, *facts.row(), facts.searchable()) for digest, facts in found],
    )


def facts_of(index: Index, digest: str) -> Facts | None:
    sql = f"SELECT {FACT_COLUMNS} FROM media WHERE hash = ?"  # noqa: S608 - constant columns
    row = index.query(sql, (digest,)).fetchone()
    return Facts(*row) if row else None
