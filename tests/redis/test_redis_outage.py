"""The outage fallback keeps the fleet's quota. Each bound ``RedisState`` (its own link and
limiter) stands for one process; the quota is counted second by second."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from _redis_support import NS, PREFIX

from deepseek_resilient import RateLimit, RateLimitedLocally, RedisState
from deepseek_resilient._core.clock import Clock, MonotonicClock
from deepseek_resilient._state.base import RateLimiterStore
from deepseek_resilient.testing import FakeClock, RedisServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def dead_url() -> str:
    """A loopback port nobody listens on: Redis is down from the very start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    try:
        with RedisServer() as server:
            yield server
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def fleet(
    url: str, n: int, rate: RateLimit, clock: Clock, **options: float
) -> list[RateLimiterStore]:
    """n "processes": each binds its own store (connection, in-process state)."""
    options.setdefault("retry_interval", 0.05)
    state = RedisState(url, namespace=NS, processes=n, op_timeout=0.5, **options)  # type: ignore[arg-type]
    return [state.bind().limiter("primary", rate, clock) for _ in range(n)]


async def try_once(limiter: RateLimiterStore) -> bool:
    try:
        permit = await limiter.acquire(tokens=1, max_wait=0.0)
    except RateLimitedLocally:
        return False
    permit.release()
    return True


@pytest.mark.anyio
async def test_redis_down_from_the_start_keeps_the_fleet_within_the_quota(dead_url: str) -> None:
    clock = FakeClock()
    limiters = fleet(dead_url, 8, RateLimit(requests_per_second=20), clock)
    per_second: Counter[int] = Counter()
    for tick in range(200):  # 10 s in 50 ms steps; every process tries 3 times a step
        for limiter in limiters:
            for _ in range(3):
                if await try_once(limiter):
                    per_second[tick // 20] += 1
        clock.advance(0.05)
    # With Redis up the fleet gets a full bucket (20) plus 20/s; down, it must not get more.
    # (A process's share, 2.5/s, admits 2 or 3 in a given second: count pairs of seconds.)
    assert per_second[0] + per_second[1] <= 1.1 * (40 + 20)
    assert all(per_second[s] + per_second[s + 1] <= 1.1 * 40 for s in range(1, 9)), per_second
    assert sum(per_second.values()) >= 0.9 * (20 + 20 * 10)  # and the quota is still used


@pytest.mark.anyio
async def test_a_concurrency_limit_smaller_than_the_fleet_queues_and_never_exceeds(
    dead_url: str,
) -> None:
    limiters = fleet(dead_url, 8, RateLimit(max_concurrency=4), FakeClock())
    held, refused = [], 0
    for limiter in limiters:
        try:
            held.append(await limiter.acquire(tokens=1, max_wait=0.02))
        except RateLimitedLocally:
            refused += 1  # it queued for its wait, then spilled over
    assert len(held) <= 4 and refused >= 4
    for permit in held:
        permit.release()


async def _phase(limiters: list[RateLimiterStore], seconds: float) -> tuple[int, float]:
    """Every process tries every 10 ms for ``seconds`` (real time): (admitted, elapsed)."""
    admitted = 0
    began = time.monotonic()

    async def run(limiter: RateLimiterStore) -> None:
        nonlocal admitted
        while time.monotonic() - began < seconds:
            ok = await try_once(limiter)
            admitted += ok
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for limiter in limiters:
            tg.start_soon(run, limiter)
    return admitted, time.monotonic() - began


@pytest.mark.anyio
async def test_switching_between_shared_and_local_state_hands_over_the_budget(
    own_redis: RedisServer,
) -> None:
    rate = 20.0
    limiters = fleet(own_redis.url, 4, RateLimit(requests_per_second=rate), MonotonicClock())
    shared, _ = await _phase(limiters, 1.0)  # drains the shared bucket
    assert shared >= rate  # (the full bucket, and its refill)
    own_redis.kill()
    local, elapsed = await _phase(limiters, 1.0)
    # No fresh bucket per process on the switch (that would be 4 x 5 more, about 40 here).
    assert local <= 1.1 * rate * elapsed + 4, (shared, local, elapsed)
    restarting = time.monotonic()
    own_redis.start()  # an empty Redis: a fresh, full shared bucket
    stalled = time.monotonic() - restarting  # (the budget grows meanwhile too)
    back, elapsed = await _phase(limiters, 1.0)
    elapsed += stalled
    # What the fleet took meanwhile was paid back (else the fresh bucket adds about 20).
    assert back <= 1.1 * rate * elapsed + 4, (shared, local, back, elapsed)


@pytest.mark.anyio
async def test_shared_concurrency_slots_queue_by_priority_then_arrival(redis_url: str) -> None:
    import redis as redis_py

    holder, *waiting = fleet(redis_url, 4, RateLimit(max_concurrency=1), MonotonicClock())
    queue = redis_py.Redis.from_url(redis_url)
    held = await holder.acquire(tokens=1, max_wait=1.0)
    order: list[str] = []

    async def wait_for_slot(limiter: RateLimiterStore, name: str, priority: Any) -> None:
        permit = await limiter.acquire(tokens=1, max_wait=20.0, priority=priority)
        order.append(name)
        await anyio.sleep(0.05)  # hold it a moment, then pass it on
        permit.release()

    async with anyio.create_task_group() as tg:
        for n, (limiter, name, priority) in enumerate(
            zip(waiting, ["first", "second", "urgent"], ["normal", "normal", "high"], strict=True)
        ):
            tg.start_soon(wait_for_slot, limiter, name, priority)
            for _ in range(1000):  # bounded polling: each is queued before the next arrives
                if queue.zcard(f"{PREFIX}rl:primary:queue") >= n + 1:
                    break
                await anyio.sleep(0.01)
        held.release()
    assert order == ["urgent", "first", "second"]
    assert queue.zcard(f"{PREFIX}rl:primary:queue") == 0
