"""The cache layer: a fresh entry answers at once, an answer from upstream is stored, and an
expired entry inside its stale-if-error window answers when every provider failed.

The store itself is :mod:`.disk_cache` (this process) or a shared one (``RedisState``); the
key and the per-call modes are :mod:`.cache_key`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

from ..._core.call import Answer, Call, Handler, Layer, Site, when_complete
from ..._core.errors import AllProvidersFailed, DeadlineExceeded
from ..._core.events import CacheLookup
from ..._models import ChatCompletion
from ..._streaming.accumulate import completion_to_chunks
from ..._streaming.streams import OpenedStream
from .key import CacheMode, is_cacheable, mode_reads, mode_writes, request_key

if TYPE_CHECKING:
    from ..._state.base import CacheStore
    from .store import (
        ENTRY_VERSION,
        CachedAnswer,
        CacheStats,
        ResponseCache,
        WallClock,
        resolve_directory,
    )

#: The disk store's names, re-exported here, load with the store: when a disk cache is first
#: built (``import deepseek_resilient`` does not load it).
_FROM_STORE = frozenset(
    {"ENTRY_VERSION", "CachedAnswer", "CacheStats", "ResponseCache", "WallClock",
     "resolve_directory"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _FROM_STORE:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENTRY_VERSION",
    "CacheMode",
    "CacheStats",
    "CachedAnswer",
    "ResponseCache",
    "WallClock",
    "cache_layer",
    "is_cacheable",
    "mode_reads",
    "mode_writes",
    "request_key",
    "resolve_directory",
]


def cache_layer(site: Site) -> Layer | None:
    """The request layer in front of merging and the deadline (None: no cache)."""
    cache = site.policies.cache
    if cache is None:
        return None
    return functools.partial(_cached, cache, site)


async def _cached(cache: CacheStore, site: Site, call: Call, next: Handler) -> Answer:
    mode = call.cache_mode
    if mode == "bypass":
        call.route.cache = "bypass"
        return await next(call)
    key = site.key(call)
    cached = await cache.get(key, merging=call.merges) if mode_reads(mode) else None
    if cached is not None and cached.fresh:
        _emit(call, "hit")
        return _from_cache(call, cached.completion, "hit")
    call.route.cache = "miss"
    try:
        answer = await next(call)
    except (AllProvidersFailed, DeadlineExceeded):
        if cached is not None:  # stale-if-error: an expired answer beats none
            _emit(call, "stale")
            return _from_cache(call, cached.completion, "stale")
        _emit(call, "miss")
        raise
    _emit(call, "miss")
    if mode_writes(mode):
        when_complete(answer, functools.partial(cache.set, key))
    return answer


def _from_cache(call: Call, completion: ChatCompletion, how: Literal["hit", "stale"]) -> Answer:
    call.route.cache = how
    call.route.provider = "cache"
    if call.request.stream:
        return OpenedStream.replay("cache", completion_to_chunks(completion))
    return completion


def _emit(call: Call, result: Literal["hit", "miss", "stale"]) -> None:
    if call.hooks.wants(CacheLookup):
        call.hooks.emit(CacheLookup(call.id, result))
