"""Catalogs: a folder turned into an index of its files (no network here)."""

from .folder_watch import watch_catalog
from .index import CatalogInfo, Entry
from .local import Catalogs
from .paths import check_name, check_relpath, resolve_inside
from .scan import ScanReport
from .walk import Skipped

__all__ = [
    "CatalogInfo",
    "Catalogs",
    "Entry",
    "ScanReport",
    "Skipped",
    "check_name",
    "check_relpath",
    "resolve_inside",
    "watch_catalog",
]
