"""The diskcache ``Disk`` of the answer cache: JSON bytes only, every other row refused (a
tampered row can never reach ``pickle.load``). Imported when a cache is first opened, so
``import deepseek_resilient`` does not load diskcache or sqlite3."""

from __future__ import annotations

import sqlite3
from typing import Any

import diskcache

__all__ = ["_JsonOnlyDisk", "_TamperedEntry", "checked_value"]

_MODE_RAW = 1
"""``diskcache.core.MODE_RAW``: the value is inline in the row (the only mode we accept)."""


class _TamperedEntry(ValueError):
    """A row our disk never writes (pickle, text or file-backed): treat as a miss, delete."""


def checked_value(mode: Any, filename: Any, value: Any) -> bytes:
    """A row's value when our disk could have written the row (inline bytes), else raises
    :class:`_TamperedEntry`: the one gate between the database and the JSON parser."""
    if mode != _MODE_RAW or filename is not None:
        raise _TamperedEntry(f"refused a cache row in mode {mode!r}")
    if type(value) is not bytes:
        raise _TamperedEntry("cache row value is not bytes")
    return value


class _JsonOnlyDisk(diskcache.Disk):  # type: ignore[misc]
    """A diskcache ``Disk`` that stores str keys and bytes values inline in SQLite, and
    refuses anything else on read, so a tampered row can never reach ``pickle.load``.

    It never creates value files, so it never deletes any either: a tampered ``filename``
    column (``/home/you/.bashrc``) cannot make eviction remove a file outside the cache."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError("cache keys are str")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or type(key) is not str:
            raise _TamperedEntry("non-str key in the cache database")
        return key

    def store(self, value: Any, read: bool, key: Any = diskcache.UNKNOWN) -> Any:
        if read or type(value) is not bytes:
            raise TypeError("cache values are bytes")
        return 0, _MODE_RAW, None, sqlite3.Binary(value)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> bytes:
        if read:
            raise _TamperedEntry("cache rows are never read as files")
        return checked_value(mode, filename, value)

    def remove(self, file_path: Any) -> None:
        return None
