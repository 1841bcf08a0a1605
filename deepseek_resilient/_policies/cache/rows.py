"""The answer cache's two hot statements, run on diskcache's own connection and table.

diskcache's ``get`` and ``set`` cost several Python-level SQL calls each (a connection
property per statement, a ``SELECT`` before every ``INSERT``/``UPDATE``, a transaction context
per entry). Here a lookup is one ``SELECT`` and a batch of answers is one ``executemany``
upsert in one ``BEGIN IMMEDIATE`` transaction. The rows are exactly those ``_JsonOnlyDisk``
makes through ``Cache.set`` (inline bytes, no expiry, no tag, size 0), so diskcache's triggers
keep its count and its eviction and ``len``/``volume`` work unchanged, and every row read is
checked by :func:`.disk.checked_value` before any parser sees it. Imported with diskcache, when
a cache is first opened.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import diskcache

from .disk import checked_value

__all__ = ["read_value", "write_values"]

_SELECT = (
    "SELECT mode, filename, value FROM Cache"
    " WHERE key = ? AND raw = 1 AND (expire_time IS NULL OR expire_time > ?)"
)
_UPSERT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
    " tag, size, mode, filename, value) VALUES (?, 1, ?, NULL, ?, 0, NULL, 0, 1, NULL, ?)"
    " ON CONFLICT(key, raw) DO UPDATE SET store_time = excluded.store_time,"
    " expire_time = NULL, access_time = excluded.access_time, access_count = 0, tag = NULL,"
    " size = 0, mode = 1, filename = NULL, value = excluded.value"
)
"""``Cache.set``'s row for a str key and inline bytes (``raw = 1``, ``mode = 1``: MODE_RAW).
diskcache selects and then updates or inserts only to clean up an old value file; our disk
never writes one, so an upsert is the same row."""


def read_value(cache: Any, key: str) -> bytes | None:
    """The checked value stored under ``key``, None when there is none. Raises
    ``diskcache.Timeout`` when the database is locked, ``_TamperedEntry`` for a row we never
    write, and sqlite3's errors for a broken database."""
    try:
        rows = cache._con.execute(_SELECT, (key, time.time())).fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise diskcache.Timeout from None
        raise
    if not rows:
        return None
    ((mode, filename, value),) = rows
    return checked_value(mode, filename, value)


def write_values(cache: Any, values: dict[str, bytes]) -> None:
    """Store ``values`` (key -> entry bytes) in one transaction. Raises ``diskcache.Timeout``
    when the write lock is not had within the cache's lock timeout."""
    for key, value in values.items():
        if type(key) is not str or type(value) is not bytes:
            raise TypeError("cache keys are str and values bytes")
    con = cache._con
    now = time.time()
    try:
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        raise diskcache.Timeout from None
    try:
        con.executemany(_UPSERT, [(key, now, now, value) for key, value in values.items()])
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
