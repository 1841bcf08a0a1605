"""The disk cache of answers: JSON entries in a diskcache (SQLite) directory, never pickle.

diskcache's stock ``Disk`` unpickles whatever a row's ``mode`` column says, so anyone who can
write the cache directory could run code in this process. :class:`_JsonOnlyDisk` stores bytes
only and refuses every row that is not plain bytes (pickle, text, file-backed) on read; the
entry is then a miss and is deleted. The directory is created 0700 and must be owned by us.

Timestamps come from the injected clock (a wall clock by default; entries outlive the
process), not from diskcache's ``expire``, so TTL tests run on a fake clock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..._core.clock import TimeSource, WallClock
from ..._core.config import Cache
from ..._core.lazy import LazyModule
from ..._models import ChatCompletion, ChatRequest
from .files import PRAGMAS, drop_foreign_pragmas, resolve_directory, secure_directory, writable
from .key import request_key

if TYPE_CHECKING:
    import diskcache
else:
    diskcache = LazyModule("diskcache")  # with sqlite3, imported when a cache is first opened

__all__ = [
    "ENTRY_VERSION",
    "CacheStats",
    "CachedAnswer",
    "ResponseCache",
    "WallClock",
    "resolve_directory",
]

logger = logging.getLogger("deepseek_resilient.cache")

ENTRY_VERSION: Literal[1] = 1
"""Bump when the stored JSON changes shape; old entries become misses and are removed."""
_CLOCK_SKEW = 60.0
"""An entry stored at most this far in the future (clock stepped back) still counts."""
_BATCH = 128
_BATCH_AGE = 0.25
"""Queued writes (``set_later``) go to disk together: this many, or when the oldest is this old
(the client's store sets a timer for it). 128 rows: about 1 page write per row, 2 at 32."""
_CULL_EVERY = 32
"""Eviction runs once per this many writes (diskcache's cull on every write doubles its cost)."""


@dataclass(frozen=True)
class CachedAnswer:
    """A cache hit. ``fresh`` is False for an entry past its TTL but within stale-if-error,
    which may only answer when every provider fails."""

    completion: ChatCompletion
    fresh: bool
    age: float


@dataclass(frozen=True)
class CacheStats:
    """Counters of one :class:`ResponseCache` (hits/stale/misses: this process only)."""

    entries: int
    size_bytes: int
    hits: int
    stale: int
    misses: int
    directory: Path


class _Entry(BaseModel):
    """The stored JSON: a schema version, when it was stored, and the completion."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    v: Literal[1]
    stored_at: float = Field(allow_inf_nan=False)
    completion: ChatCompletion


def _entry_json(stored_at: float, completion: ChatCompletion) -> bytes:
    """``_Entry(v=ENTRY_VERSION, stored_at=..., completion=...).model_dump_json()``, as bytes,
    without building the entry (the completion serialised once, by pydantic)."""
    if not math.isfinite(stored_at):
        raise ValueError("stored_at must be finite")
    body = completion.__pydantic_serializer__.to_json(completion)
    return b'{"v":%d,"stored_at":%r,"completion":%s}' % (ENTRY_VERSION, stored_at, body)


class ResponseCache:
    """Answers on disk, keyed by a hash of the normalised request and the provider chain.

    Every method is safe to call on the event loop (a read is a few µs of SQLite) and none
    raises: an unreadable, corrupt or tampered entry is a miss and is removed; a failed write
    (disk full, lock held too long) is skipped and logged at debug level."""

    def __init__(self, config: Cache, clock: TimeSource | None = None) -> None:
        self._config = config
        self._clock: TimeSource = clock if clock is not None else WallClock()
        self._directory = resolve_directory(config)
        self._cache: diskcache.Cache | None = None
        self._disabled = False
        self._lock = threading.Lock()
        self._hits = 0
        self._stale = 0
        self._misses = 0
        #: Writes queued by ``set_later`` (see there), oldest first, and when the first came.
        self._pending: dict[str, bytes] = {}
        self._pending_since = 0.0
        self._written = 0  # entries written since the last cull
        self._rows: Any = None  # the .rows module, imported with diskcache on first open

    def __repr__(self) -> str:
        return f"ResponseCache(directory={str(self._directory)!r}, ttl={self._config.ttl})"

    @property
    def directory(self) -> Path:
        """The cache directory (it is created on first use)."""
        return self._directory

    def key(self, request: ChatRequest, chain: Sequence[str]) -> str:
        """The cache key of ``request`` on ``chain`` (see ``cache_key.request_key``)."""
        return request_key(request, chain)

    # ------------------------------------------------------------------------- open

    def _open(self) -> diskcache.Cache | None:
        cache = self._cache
        if cache is not None or self._disabled:
            return cache
        with self._lock:
            if self._cache is None and not self._disabled:
                try:
                    self._cache = self._open_locked()
                except Exception as exc:
                    logger.warning("cache disabled: cannot open %s (%r)", self._directory, exc)
                    self._disabled = True
            return self._cache

    def _open_locked(self) -> diskcache.Cache | None:
        if not secure_directory(self._directory):
            self._disabled = True
            return None
        if not writable(self._directory):
            logger.warning("cache disabled: %s is not writable", self._directory)
            self._disabled = True
            return None
        settings: dict[str, Any] = {
            "size_limit": int(self._config.size_limit),
            "eviction_policy": "least-recently-stored",  # reads never write
            "statistics": 0,
            "tag_index": 0,
            "cull_limit": 0,  # eviction runs in _cull, once per _CULL_EVERY entries
            **PRAGMAS,
        }
        import sqlite3

        try:
            drop_foreign_pragmas(self._directory, self._config.lock_timeout)
            cache = self._construct(settings)
        except sqlite3.DatabaseError as exc:
            # "file is not a database": the cache file is ours to rebuild, never to crash on.
            logger.warning("cache database in %s is corrupt (%r): rebuilding", self._directory, exc)
            for suffix in ("", "-wal", "-shm"):
                (self._directory / f"cache.db{suffix}").unlink(missing_ok=True)
            cache = self._construct(settings)
        return cache

    def _construct(self, settings: dict[str, Any]) -> diskcache.Cache:
        from . import rows
        from .disk import _JsonOnlyDisk

        self._rows = rows
        timeout = self._config.lock_timeout
        return diskcache.Cache(str(self._directory), timeout, _JsonOnlyDisk, **settings)

    # ------------------------------------------------------------------------- read / write

    def get(self, key: str) -> CachedAnswer | None:
        """The entry for ``key``, fresh or stale (within ``ttl + stale_if_error``), else None.

        Anything wrong with the entry (not JSON, wrong schema, refused row) is a miss, and the
        entry is deleted. Expired entries beyond the stale window are deleted too."""
        answer = self._read(key)
        if answer is None:
            self._misses += 1
        elif answer.fresh:
            self._hits += 1
        else:
            self._stale += 1
        return answer

    def _read(self, key: str) -> CachedAnswer | None:
        pending = self._pending.get(key)
        if pending is not None:  # parsed again: every reader gets its own objects
            return self._answer(None, key, _Entry.model_validate_json(pending))
        cache = self._open()
        if cache is None:
            return None
        try:
            raw = self._rows.read_value(cache, key)
        except diskcache.Timeout:
            logger.debug("cache read skipped: database busy")
            return None
        except Exception as exc:
            logger.debug("cache entry unreadable (%r): removing it", exc)
            self._discard(cache, key)
            return None
        if raw is None:
            return None
        try:
            entry = _Entry.model_validate_json(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            logger.debug("cache entry invalid (%s): removing it", type(exc).__name__)
            self._discard(cache, key)
            return None
        return self._answer(cache, key, entry)

    def _answer(
        self, cache: diskcache.Cache | None, key: str, entry: _Entry
    ) -> CachedAnswer | None:
        age = self._clock.now() - entry.stored_at
        if age < -_CLOCK_SKEW or age > self._config.ttl + self._config.stale_if_error:
            if cache is not None:
                self._discard(cache, key)
            return None
        age = max(age, 0.0)
        return CachedAnswer(entry.completion, fresh=age <= self._config.ttl, age=age)

    def set(self, key: str, completion: ChatCompletion) -> None:
        """Store ``completion`` (as JSON) under ``key`` now. Never raises."""
        self._pending.pop(key, None)
        cache = self._open()
        if cache is None:
            return
        try:
            self._rows.write_values(cache, {key: _entry_json(self._clock.now(), completion)})
        except Exception as exc:
            logger.debug("cache write skipped (%r)", exc)
        else:
            self._cull(cache, 1)

    def set_later(self, key: str, completion: ChatCompletion) -> bool:
        """Store ``completion`` under ``key`` off the caller's path: queued (and read back from
        the queue), then written with the others queued in ONE transaction when ``_BATCH`` are
        queued, when a later one finds the oldest ``_BATCH_AGE`` s old, or on ``flush`` (the
        client's timer, ``stats``, ``clear``, ``close``). Never raises. A crash loses the queue.
        True: this answer started a new queue (its owner may set a timer to flush it)."""
        if self._open() is None:  # disabled (not writable, not ours): nothing is kept
            return False
        now = self._clock.now()
        try:
            raw = _entry_json(now, completion)  # now: the caller may change it
        except Exception as exc:
            logger.debug("cache write skipped (%r)", exc)
            return False
        first = not self._pending
        if first:
            self._pending_since = now
        self._pending[key] = raw
        if len(self._pending) >= _BATCH or not 0 <= now - self._pending_since < _BATCH_AGE:
            self.flush()
        return first

    @property
    def batch_age(self) -> float:  # seconds a queued answer waits at most (``set_later``)
        return _BATCH_AGE

    def flush(self) -> None:
        """Write the queued entries (``set_later``) in one transaction. Never raises."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        cache = self._open()
        if cache is None:
            return
        try:
            self._rows.write_values(cache, pending)
        except Exception as exc:
            logger.debug("cache write skipped (%r)", exc)
        else:
            self._cull(cache, len(pending))

    def _cull(self, cache: diskcache.Cache, written: int, *, now: bool = False) -> None:
        """Evict the oldest entries past ``size_limit`` every ``_CULL_EVERY`` writes."""
        self._written += written
        if now or self._written >= _CULL_EVERY:
            self._written = 0
            try:
                cache.cull(retry=False)
            except Exception as exc:
                logger.debug("cache eviction skipped (%r)", exc)

    def _discard(self, cache: diskcache.Cache, key: str) -> None:
        try:
            cache.delete(key, retry=False)
        except Exception as exc:
            logger.debug("cache delete failed (%r)", exc)

    # ------------------------------------------------------------------------- admin

    def stats(self) -> CacheStats:
        """Entries and bytes on disk (all processes), and this instance's hit counters."""
        entries = size = 0
        self.flush()
        cache = self._open()
        if cache is not None:
            self._cull(cache, 0, now=True)
            try:
                entries = len(cache)
                size = int(cache.volume())
            except Exception as exc:
                logger.debug("cache stats unavailable (%r)", exc)
        return CacheStats(
            entries=entries,
            size_bytes=size,
            hits=self._hits,
            stale=self._stale,
            misses=self._misses,
            directory=self._directory,
        )

    def clear(self) -> None:
        """Remove every entry (all processes share the directory)."""
        self._pending = {}
        cache = self._open()
        if cache is None:
            return
        try:
            cache.clear(retry=True)
        except Exception as exc:
            logger.debug("cache clear failed (%r)", exc)

    def close(self) -> None:
        """Write what is queued, close the database connections; the next use reopens them."""
        self.flush()
        with self._lock:
            cache, self._cache = self._cache, None
        if cache is not None:
            cache.close()
