"""The default store: every policy's state lives in this process (and the cache on disk).

Admission here never awaits anything real: ``admit`` and ``get`` are coroutines that return
at once, so the hot path costs what it did before the store seam existed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._core.clock import Clock
from .._core.config import Cache, CircuitBreaker, RateLimit
from .._core.config import RetryBudget as BudgetConfig
from .._models import ChatCompletion
from .._policies.breaker import ProviderBreaker
from .._policies.budget import RetryBudget
from .._policies.rate_limit.layer import ProviderRateLimiter
from ._later import call_later, flush_at_exit
from .base import FlightStore

if TYPE_CHECKING:
    from .._policies.cache.store import CachedAnswer, ResponseCache

__all__ = ["DiskCacheStore", "MemoryState"]


class DiskCacheStore:
    """The disk cache (``ResponseCache``) as a ``CacheStore``. Answers are stored in batches
    (``set_later``): the first answer of a batch sets a timer on the running loop that writes
    the batch ``disk.batch_age`` s later, unless it filled up first, and whatever is still queued
    when the interpreter exits is written then."""

    __slots__ = ("_cancel", "disk")

    def __init__(self, disk: ResponseCache) -> None:
        self.disk = disk
        self._cancel: Callable[[], Any] | None = None  # the pending timer's cancel

    async def get(self, key: str, *, merging: bool = False) -> CachedAnswer | None:
        return self.disk.get(key)

    def set(self, key: str, completion: ChatCompletion) -> None:
        if self.disk.set_later(key, completion) and self._cancel is None:  # a new batch
            self._cancel = call_later(self.disk.batch_age, self._flush)
            flush_at_exit(self.disk)

    def _flush(self) -> None:
        self._cancel = None
        self.disk.flush()

    def close(self) -> None:
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()
        self.disk.close()

    def __repr__(self) -> str:
        return f"DiskCacheStore({self.disk!r})"


class MemoryState:
    """In-process state: breakers, limiters and the budget in memory, answers on disk."""

    def limiter(self, provider: str, config: RateLimit, clock: Clock) -> ProviderRateLimiter:
        return ProviderRateLimiter(provider, config, clock)

    def breaker(
        self,
        provider: str,
        config: CircuitBreaker,
        clock: Clock,
        listeners: Sequence[Any] = (),
    ) -> ProviderBreaker:
        return ProviderBreaker(provider, config, clock, listeners)

    def budget(self, config: BudgetConfig, clock: Clock) -> RetryBudget:
        return RetryBudget(
            clock, ratio=config.ratio, min_per_second=config.min_per_second, window=config.window
        )

    def cache(self, config: Cache, clock: Clock | None) -> DiskCacheStore:
        # Entries outlive the process: wall time unless a test injects a clock. The disk store
        # (and its models) loads with the first cache, not at import.
        from .._policies.cache.store import ResponseCache

        return DiskCacheStore(ResponseCache(config, clock))

    def flights(self) -> FlightStore | None:
        return None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "MemoryState()"
