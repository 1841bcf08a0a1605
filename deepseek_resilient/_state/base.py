"""The store protocols: what the pipeline's layers need from the state behind them.

A ``StateStore`` builds, for one client, the per-provider breaker and rate limiter, the retry
budget, the answer cache and the cross-process merging of identical calls. Admission
(``RateLimiterStore.acquire``, ``BreakerStore.admit``) and cache reads are ``async`` so that a
store may make them a network round trip; the in-memory store answers them at once.

The outcome reports (``record_*``, ``release``, ``set``) are synchronous: they must never
delay the caller's answer. A shared store applies them locally at once and writes them out
in the background.

The names follow pybreaker's storage where they fit: a breaker's ``state`` is one of
``"closed"``, ``"open"``, ``"half-open"`` (pybreaker's ``STATE_*`` values).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from .._core.clock import Clock
from .._core.config import Cache, CircuitBreaker, RateLimit
from .._core.config import RetryBudget as BudgetConfig
from .._core.errors import CircuitOpenError, ProviderError
from .._models import ChatCompletion
from .._policies.breaker import BreakerHealth

__all__ = [
    "BreakerStore",
    "BudgetStore",
    "CacheStore",
    "FlightStore",
    "PermitLike",
    "RateLimiterStore",
    "StateStore",
]


@runtime_checkable
class PermitLike(Protocol):
    """One admitted call; ``release`` it when the call ends (idempotent)."""

    #: Seconds the call waited for admission.
    waited: float

    def release(self, *, used_tokens: int | None = None) -> None: ...


@runtime_checkable
class RateLimiterStore(Protocol):
    """The rate limiter of one provider (see ``_policies/rate_limit.py`` for the semantics)."""

    async def acquire(
        self,
        *,
        tokens: int,
        max_wait: float,
        priority: Any = "normal",
        hold_for: float | None = None,
    ) -> PermitLike:
        """Admit a call within ``max_wait`` seconds or raise ``RateLimitedLocally``.
        ``hold_for``: how long the call may hold its concurrency slot at most (a shared
        store's lease expires after it even if this process dies)."""
        ...

    def on_rate_limited(self, retry_after: float | None) -> None: ...

    def on_success(self) -> None: ...


@runtime_checkable
class BreakerStore(Protocol):
    """The breaker of one provider (see ``_policies/breaker.py``)."""

    @property
    def state(self) -> str: ...

    def refusal(self) -> CircuitOpenError | None:
        """The router's cheap pre-check from what this process last saw (no I/O)."""
        ...

    async def admit(self, *, with_limiter: bool = False) -> None:
        """Admit a call or raise ``CircuitOpenError`` (one probe at a time when half-open).
        ``with_limiter``: the same task goes on at once to this provider's
        ``RateLimiterStore.acquire``; a shared store may then leave the admission to the
        limiter's round trip, whose ``acquire`` raises this breaker's ``CircuitOpenError``
        (see ``_state/admission.py``)."""
        ...

    def record_success(self, latency: float) -> None: ...

    def record_failure(self, error: ProviderError) -> None: ...

    def record_neutral(self) -> None: ...

    def health(self) -> BreakerHealth: ...


@runtime_checkable
class BudgetStore(Protocol):
    """The retry budget: each request deposits, each retry withdraws."""

    def on_request(self) -> None: ...

    def try_spend(self) -> bool: ...


@runtime_checkable
class CacheStore(Protocol):
    """Answers by request key. Never raises: anything wrong is a miss."""

    async def get(self, key: str, *, merging: bool = False) -> Any:
        """A ``CachedAnswer`` (fresh or stale), or None. ``merging``: on a miss the call goes
        on to ``FlightStore.run`` with the same key (a shared store may make that merge's
        claim in this read's round trip, see ``_state/admission.py``)."""
        ...

    def set(self, key: str, completion: ChatCompletion) -> None: ...

    def close(self) -> None: ...


#: The upstream call a flight leader makes: its answer and the provider that gave it.
Compute = Callable[[], Awaitable[tuple[ChatCompletion, str | None]]]


@runtime_checkable
class FlightStore(Protocol):
    """Merging of identical calls across processes (within one process the ``Singleflight``
    already merges them). ``run`` returns the answer, the provider that gave it and whether
    it came from another process's call."""

    async def run(self, key: str, compute: Compute) -> tuple[ChatCompletion, str | None, bool]: ...


@runtime_checkable
class StateStore(Protocol):
    """Builds one client's stores. ``flights`` None: merging stays within the process."""

    def limiter(self, provider: str, config: RateLimit, clock: Clock) -> RateLimiterStore: ...

    def breaker(
        self,
        provider: str,
        config: CircuitBreaker,
        clock: Clock,
        listeners: Sequence[Any] = (),
    ) -> BreakerStore: ...

    def budget(self, config: BudgetConfig, clock: Clock) -> BudgetStore: ...

    def cache(self, config: Cache, clock: Clock | None) -> CacheStore: ...

    def flights(self) -> FlightStore | None: ...

    async def aclose(self) -> None:
        """Finish background writes and close connections."""
        ...
