"""What a request costs on Redis: with every layer on, a request that misses the cache waits
for two round trips (cache read + merge claim; breaker + rate limit), and its outcome writes
go out in the background, batched. The fused scripts keep each layer's meaning: a breaker
open in Redis refuses in the limiter's round trip without taking rate-limit capacity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis as redis_py
from _redis_support import PREFIX, ask, client, model_calls

from deepseek_resilient import Cache, CircuitBreaker, RateLimit
from deepseek_resilient.testing import FaultServer, Ok


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis_py.Redis]:
    conn = redis_py.Redis.from_url(redis_url)
    yield conn
    conn.close()


def _every_layer(tmp: Any) -> dict[str, Any]:
    return {
        "cache": Cache(ttl=60.0, directory=str(tmp)),
        "coalesce": True,
        "breaker": CircuitBreaker(),
        "rate_limit": RateLimit(requests_per_second=10_000, max_concurrency=100),
    }


@pytest.mark.anyio
async def test_a_request_that_misses_the_cache_waits_for_two_round_trips(
    llm_server: FaultServer, redis_url: str, tmp_path: Any
) -> None:
    async with client(llm_server, redis_url, "ok", "ok", **_every_layer(tmp_path)) as c:
        await c.chat.completions.create(**ask("warm", temperature=0))  # connects, loads scripts
        link = getattr(c._store, "link")
        await link.drain()
        ops, writes, flushes = link.ops, link.background, link.flushes

        async def one(i: int) -> None:
            answer = await c.chat.completions.create(**ask(f"unique {i}", temperature=0))
            assert answer.route is not None and answer.route.cache == "miss"

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        await link.drain()
        assert link.ops - ops == 2 * 20  # waited: two per request, not four
        assert link.background - writes >= 3 * 20  # cache write, merge publish, release
        assert link.flushes - flushes <= link.background - writes  # ... sent in batches
        assert link.outages == 0
        assert r_keys(redis_url, "flight:*") == []  # no merge lease left behind


def r_keys(url: str, pattern: str) -> list[bytes]:
    conn = redis_py.Redis.from_url(url)
    try:
        return list(conn.keys(PREFIX + pattern))
    finally:
        conn.close()


@pytest.mark.anyio
async def test_identical_calls_in_one_process_leave_no_lease_behind(
    llm_server: FaultServer, redis_url: str, tmp_path: Any
) -> None:
    """Every caller's cache read may win the merge claim; the lease won is used by whichever
    caller leads (or given back): none lapses on its own."""
    async with client(llm_server, redis_url, "ok", **_every_layer(tmp_path)) as c:
        with anyio.fail_after(2.0):  # a lease left to lapse would hold them for 3 s
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(lambda: c.chat.completions.create(**ask("same", temperature=0)))
        await getattr(c._store, "link").drain()
    assert llm_server.calls == 1
    assert r_keys(redis_url, "flight:*") == []


@pytest.mark.anyio
async def test_a_breaker_open_in_redis_refuses_without_taking_rate_limit_capacity(
    llm_server: FaultServer, redis_url: str, r: redis_py.Redis, tmp_path: Any
) -> None:
    async with client(llm_server, redis_url, "ok", "ok", **_every_layer(tmp_path)) as c:
        await c.chat.completions.create(**ask("warm", temperature=0))
        await getattr(c._store, "link").drain()
        buckets = r.hgetall(f"{PREFIX}rl:primary")
        sec, _ = r.time()
        # Another process tripped the primary's breaker (this one has not seen it yet).
        r.hset(f"{PREFIX}cb:primary", mapping={"state": "open", "open_until": sec * 1000 + 60e3})
        answer = await c.chat.completions.create(**ask("after the trip", temperature=0))
        assert answer.route is not None and answer.route.provider == "backup"
        assert c.health()["primary"].state == "open"  # learned from the fused round trip
        await getattr(c._store, "link").drain()
        assert r.hgetall(f"{PREFIX}rl:primary") == buckets  # no capacity taken
        assert r.zcard(f"{PREFIX}rl:primary:leases") == 0
    assert model_calls(llm_server, "ok") == 2  # warm (primary), then the backup


@pytest.mark.anyio
async def test_a_call_the_limiter_refuses_before_the_breaker_admitted_it_records_nothing(
    llm_server: FaultServer, redis_url: str, r: redis_py.Redis
) -> None:
    """The fleet's window holds a failure, so each admitted call is counted out (``n``) until
    its outcome comes in. A call refused by this process's own limiter before the fused
    script ran was never counted: its (neutral) outcome must not take another call's count."""

    def rule(index: int, body: dict[str, Any] | None) -> Ok:
        return Ok("answer", delay=3.0 if (body or {}).get("model") == "slow" else 0.0)

    llm_server.rule = rule
    r.hset(f"{PREFIX}cb:primary", mapping={"state": "closed", "w": "1"})  # one fleet failure
    breaker = CircuitBreaker(window=10, min_calls=5)
    rate = RateLimit(max_concurrency=1)
    async with client(llm_server, redis_url, "slow", "ok", breaker=breaker, rate_limit=rate) as c:
        link = getattr(c._store, "link")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: c.chat.completions.create(**ask("held", temperature=0.7)))
            for _ in range(1000):  # bounded polling: the first call holds the slot
                if model_calls(llm_server, "slow") >= 1:
                    break
                await anyio.sleep(0.01)
            assert r.hget(f"{PREFIX}cb:primary", "n") == b"1"  # counted out
            spilled = await c.chat.completions.create(**ask("spills", temperature=0.7, timeout=2.0))
            assert spilled.route is not None and spilled.route.provider == "backup"
            await link.drain()
            assert r.hget(f"{PREFIX}cb:primary", "n") == b"1"  # still the first call's count
