"""``RedisStore``: one client's ``StateStore`` on Redis (made by ``RedisState.bind``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._core.clock import Clock
from .._core.config import Cache, CircuitBreaker, RateLimit
from .._core.config import RetryBudget as BudgetConfig
from .._policies.budget import RetryBudget
from ._link import RedisLink
from .admission import Claims
from .redis_breaker import SharedBreaker
from .redis_cache import RedisCacheStore
from .redis_flights import RedisFlights
from .redis_limit import SharedRateLimiter

if TYPE_CHECKING:
    from .redis import RedisState

__all__ = ["RedisStore"]


class RedisStore:
    """One client's ``StateStore`` on Redis."""

    def __init__(self, state: RedisState, link: RedisLink) -> None:
        self.state = state
        self.link = link
        #: How long a merged answer may be reused by callers that were not waiting for it:
        #: the client's cache TTL (set when the client builds its cache; 0 without one).
        self._reuse = 0.0
        #: Merge claims made by this client's cache reads, for its merging (one round trip).
        self._claims = Claims()

    def limiter(self, provider: str, config: RateLimit, clock: Clock) -> SharedRateLimiter:
        return SharedRateLimiter(provider, config, clock, self.link, self.state.processes)

    def breaker(
        self,
        provider: str,
        config: CircuitBreaker,
        clock: Clock,
        listeners: Sequence[Any] = (),
    ) -> SharedBreaker:
        return SharedBreaker(provider, config, clock, self.link, listeners)

    def budget(self, config: BudgetConfig, clock: Clock) -> RetryBudget:
        # Per process on purpose: it caps the retries this process adds to its own requests.
        return RetryBudget(
            clock, ratio=config.ratio, min_per_second=config.min_per_second, window=config.window
        )

    def cache(self, config: Cache, clock: Clock | None) -> RedisCacheStore:
        self._reuse = config.ttl
        return RedisCacheStore(
            config, clock, self.link, l1_size=self.state.l1_size, claims=self._claims
        )

    def flights(self) -> RedisFlights:
        return RedisFlights(
            self.link,
            lease_ttl=self.state.lease_ttl,
            result_ttl=self.state.result_ttl,
            reuse=self._reuse,
            claims=self._claims,
        )

    async def aclose(self) -> None:
        await self.link.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self.link!r})"
