"""Values in Redis that no store of ours writes (written here with HSET / SET / ZADD, as a
person with redis-cli or a broken client would): bounded like local values, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis as redis_py
from _redis_support import NS, ask, client, model_calls

from deepseek_resilient import Cache, CircuitBreaker, RateLimit, RedisState
from deepseek_resilient.testing import FakeClock, FaultServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    return llm_server  # every model answers "hello" at once


@pytest.fixture
def r(redis_url: str) -> Iterator[redis_py.Redis]:
    conn = redis_py.Redis.from_url(redis_url)
    yield conn
    conn.close()


def _warnings(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [m.getMessage() for m in caplog.records if word in m.getMessage()]


def _server_ms(r: redis_py.Redis) -> float:
    sec, usec = r.time()
    return float(sec) * 1000 + usec / 1000


BREAKER = CircuitBreaker(window=4, min_calls=2, open_for=2.0, max_open_for=10.0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fields",
    [
        {"state": "open", "open_until": "0", "reopens": "inf"},
        {"state": "open", "open_until": "nan", "reopens": "1e400"},
        {"state": "half-open", "probe_until": "inf", "reopens": "-inf"},
        {"state": "half-open", "probe_until": "1e300", "reopens": "garbage"},
    ],
)
async def test_infinite_breaker_values_count_as_absent(
    server: FaultServer,
    redis_url: str,
    r: redis_py.Redis,
    fields: dict[Any, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="deepseek_resilient")
    r.hset(f"{{{NS}}}:cb:primary", mapping=fields)
    async with client(server, redis_url, "ok", "ok", breaker=BREAKER) as c:
        for i in range(3):
            resp = await c.chat.completions.create(**ask(f"inf {i}", temperature=0.7))
            assert resp.route is not None and resp.route.provider == "primary"
    assert r.hget(f"{{{NS}}}:cb:primary", "state") is None  # the probe closed it
    assert len(_warnings(caplog, "invalid breaker value")) == 1  # logged once


@pytest.mark.anyio
async def test_an_open_period_beyond_max_open_for_is_cut_to_it(
    server: FaultServer, redis_url: str, r: redis_py.Redis
) -> None:
    clock = FakeClock()
    key = f"{{{NS}}}:cb:primary"
    r.hset(key, mapping={"state": "open", "open_until": "1e15", "reopens": "3"})
    async with client(server, redis_url, "ok", "ok", breaker=BREAKER, clock=clock) as c:
        resp = await c.chat.completions.create(**ask("far", temperature=0.7))
        assert resp.route is not None and resp.route.provider == "backup"
        retry_in = c.health()["primary"].retry_in
        assert retry_in is not None and 9.0 < retry_in <= 10.0  # max_open_for, not 1e15 ms
        until = float(r.hget(key, "open_until") or 0)
        assert until <= _server_ms(r) + 10_000  # repaired in Redis for every process
        r.delete(key)  # an operator clears it: back within max_open_for, no restart
        clock.advance(10.0)
        resp = await c.chat.completions.create(**ask("back", temperature=0.7))
        assert resp.route is not None and resp.route.provider == "primary"


@pytest.mark.anyio
@pytest.mark.parametrize("pause", ["1e15", "inf"])
async def test_a_shared_pause_is_cut_to_max_pause(
    server: FaultServer, redis_url: str, r: redis_py.Redis, pause: str
) -> None:
    key = f"{{{NS}}}:rl:primary"
    rate = RateLimit(requests_per_second=100, max_pause=0.2)
    r.hset(key, mapping={"pause": pause})
    async with client(server, redis_url, "ok", "ok", rate_limit=rate) as c:
        resp = await c.chat.completions.create(**ask("pause", temperature=0.7, timeout=10))
        # inf: absent; 1e15: cut to max_pause (a 0.2 s wait within max_wait), never forever
        assert resp.route is not None and resp.route.provider == "primary"
        stored = r.hget(key, "pause")
        if stored is not None:
            assert float(stored) <= _server_ms(r) + 200
    assert model_calls(server, "ok") == 1


@pytest.mark.anyio
async def test_garbage_bucket_levels_and_eternal_leases_are_dropped(
    server: FaultServer, redis_url: str, r: redis_py.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="deepseek_resilient")
    rate = RateLimit(requests_per_second=5, max_concurrency=2)
    key = f"{{{NS}}}:rl:primary"
    r.hset(key, mapping={"l:rps": "-1e300", "s:rps": "nan"})
    r.zadd(f"{key}:leases", {"a": float("inf"), "b": 1e18})  # two slots held "forever"
    r.zadd(f"{key}:peers", {f"p{i}": 1e18 for i in range(50)})  # peers "in the future"
    async with client(server, redis_url, "ok", rate_limit=rate) as c:
        for i in range(3):
            resp = await c.chat.completions.create(**ask(f"lvl {i}", temperature=0.7))
            assert resp.route is not None and resp.route.provider == "primary"
        limiter = c._slots[0].limiter
        assert getattr(limiter, "_peers", 1) == 1  # the future peers were dropped
    assert r.zcard(f"{key}:leases") == 0
    assert len(_warnings(caplog, "invalid rate limit value")) == 1


@pytest.mark.anyio
async def test_an_oversized_cache_entry_is_a_miss_and_removed(
    server: FaultServer, redis_url: str, r: redis_py.Redis
) -> None:
    state = RedisState(redis_url, namespace=NS, max_value_bytes=64 * 1024)
    async with client(server, redis_url, cache=Cache(ttl=60), state=state) as c:
        await c.chat.completions.create(**ask("big", temperature=0))
    [key] = r.keys(f"{{{NS}}}:cache:*")
    r.set(key, b"x" * (1 << 20))  # 1 MB: beyond max_value_bytes
    state2 = RedisState(redis_url, namespace=NS, max_value_bytes=64 * 1024)
    async with client(server, redis_url, cache=Cache(ttl=60), state=state2) as c2:
        resp = await c2.chat.completions.create(**ask("big", temperature=0))
        assert resp.route is not None and resp.route.cache == "miss"
        assert c2._store is not None and getattr(c2._store, "link").outages == 0
    assert (r.strlen(key) or 0) < 64 * 1024  # replaced by the fresh answer


@pytest.mark.anyio
async def test_a_server_sending_a_huge_reply_is_cut_off(server: FaultServer) -> None:
    """A fake Redis announcing a 300 MB reply: the parser refuses it before reading it."""
    sent = [0]
    chunk = b"x" * (1 << 20)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(65536)
            writer.write(b"$300000000\r\n")
            while sent[0] < 300 << 20:  # stream the 300 MB until the client hangs up
                writer.write(chunk)
                sent[0] += len(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    fake = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = fake.sockets[0].getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    state = RedisState(url, namespace=NS, max_value_bytes=1 << 20, op_timeout=2.0)
    options: dict[str, Any] = {"cache": Cache(ttl=60), "state": state}
    try:
        async with client(server, url, **options) as c:
            with anyio.fail_after(10):
                resp = await c.chat.completions.create(**ask("huge", temperature=0))
            assert resp.choices[0].message.content
            link = getattr(c._store, "link")
            assert link.outages == 1 and not link.up
        assert sent[0] < 64 << 20  # the client hung up long before 300 MB
    finally:
        fake.close()
        await fake.wait_closed()
