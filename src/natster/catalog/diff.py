"""What changed between a folder and its catalog: the part of a rescan before hashing.

For an unchanged tree this *is* the rescan, and it is one stat per file in a Python
loop. Threads do not help (the GIL turns every stat into a hand-over), so a large
catalog is split by top-level folder across forked processes, each walking its part
and comparing it with its own read-only slice of the index; only differences come back.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from natster import limits

from .index import Index
from .walk import Found, Skipped, walk


@dataclass
class Diff:
    todo: list[Found] = field(default_factory=list)  # new or changed: to hash
    changed: set[str] = field(default_factory=set)  # the known ones among them
    gone: set[str] = field(default_factory=set)  # in the index, not in the folder
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def compare(self, known: dict[str, tuple[int, int]], found: Iterable[Found]) -> None:
        for item in found:
            previous = known.pop(item[0], None)
            if previous is None:
                self.todo.append(item)
            elif previous[0] != item[2] or previous[1] != item[3]:
                self.todo.append(item)
                self.changed.add(item[0])
            else:
                self.unchanged += 1
        self.gone.update(known)  # what the walk did not see

    def merge(self, other: Diff) -> None:
        self.todo += other.todo
        self.changed |= other.changed
        self.gone |= other.gone
        self.unchanged += other.unchanged
        self.skipped += other.skipped


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def diff_tree(index: Index, name: str, root: str, under: str = "") -> Diff:
    diff = Diff()
    if index.count(name, under) < limits.PARALLEL_DIFF_MIN_ENTRIES or not _can_fork():
        diff.compare(index.stat_map(name, under), walk(root, diff.skipped, under))
        return diff
    folders: list[str] = []
    diff.compare(index.direct_files(name, under), walk(root, diff.skipped, under, folders))
    units = sorted(set(folders) | set(index.child_folders(name, under)))
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(limits.HASH_WORKERS, mp_context=context) as pool:
        for part in pool.map(_diff_unit, repeat(root), repeat(index.path), repeat(name), units):
            diff.merge(part)
    return diff


def _diff_unit(root: str, db: Path, name: str, folder: str) -> Diff:
    """In a helper process: one top-level folder, against a read-only view of the index."""
    index = Index.read_only(db)
    try:
        diff = Diff()
        diff.compare(index.stat_map(name, folder), walk(root, diff.skipped, folder))
        return diff
    finally:
        index.close()


__all__ = ["Diff", "diff_tree"]
