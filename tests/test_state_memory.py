"""The store seam with the default in-memory store: the protocols hold, and admission and
cache reads complete without ever suspending (no task or thread hop on the hot path)."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from _support import USER

from deepseek_resilient import (
    APIConnectionError,
    AsyncClient,
    Cache,
    CircuitBreaker,
    CircuitOpenError,
    RateLimit,
    ResponseCache,
)
from deepseek_resilient import RetryBudget as BudgetConfig
from deepseek_resilient._state.base import (
    BreakerStore,
    BudgetStore,
    CacheStore,
    RateLimiterStore,
    StateStore,
)
from deepseek_resilient._state.memory import DiskCacheStore, MemoryState
from deepseek_resilient.testing import FakeClock, FakeProvider


def finish_at_once(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that must complete on its first step (never awaits a real wait)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the coroutine suspended")


def test_memory_state_builds_stores_that_meet_the_protocols(tmp_path: Path) -> None:
    state = MemoryState()
    clock = FakeClock()
    assert isinstance(state, StateStore)
    assert isinstance(state.limiter("p", RateLimit(requests_per_second=1), clock), RateLimiterStore)
    assert isinstance(state.breaker("p", CircuitBreaker(), clock), BreakerStore)
    assert isinstance(state.budget(BudgetConfig(), clock), BudgetStore)
    cache = state.cache(Cache(directory=tmp_path), clock)
    assert isinstance(cache, CacheStore) and isinstance(cache.disk, ResponseCache)
    assert state.flights() is None  # merging stays the in-process Singleflight


def test_breaker_admission_is_immediate_and_refuses_when_open() -> None:
    clock = FakeClock()
    breaker = MemoryState().breaker("p", CircuitBreaker(window=2, min_calls=2), clock)
    finish_at_once(breaker.admit())
    breaker.record_failure(APIConnectionError("down", provider="p"))
    finish_at_once(breaker.admit())
    breaker.record_failure(APIConnectionError("down", provider="p"))
    with pytest.raises(CircuitOpenError):
        finish_at_once(breaker.admit())


def test_limiter_and_cache_reads_complete_without_suspending(tmp_path: Path) -> None:
    clock = FakeClock()
    state = MemoryState()
    limiter = state.limiter("p", RateLimit(requests_per_second=5, max_concurrency=2), clock)
    permit = finish_at_once(limiter.acquire(tokens=10, max_wait=1.0, hold_for=30.0))
    permit.release()
    cache = state.cache(Cache(directory=tmp_path), clock)
    assert finish_at_once(cache.get("0" * 64)) is None
    cache.close()


@pytest.mark.anyio
async def test_client_defaults_to_memory_state_and_the_disk_cache(
    tmp_path: Path, anyio_backend: str
) -> None:
    fake = FakeProvider("fake")
    async with AsyncClient([fake], cache=Cache(directory=tmp_path), clock=FakeClock()) as client:
        assert isinstance(client._store, MemoryState)
        assert isinstance(client._cache_store, DiskCacheStore)
        assert isinstance(client.cache, ResponseCache)
        first = await client.chat.completions.create(messages=USER, temperature=0)
        second = await client.chat.completions.create(messages=USER, temperature=0)
    assert first.route is not None and first.route.cache == "miss"
    assert second.route is not None and second.route.cache == "hit"
    assert fake.calls == 1
