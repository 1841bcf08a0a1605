"""RedisState in one process: failure behaviour (killed, frozen, corrupt Redis), the one
cluster-wide probe, key layout and secrets, configuration errors. Two clients on one Redis
stand for two processes (each has its own connection pool and in-process state)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import redis as redis_py
from _redis_support import NS, SECRET, ask, client, model_calls, provider

from deepseek_resilient import (
    AsyncClient,
    Cache,
    CircuitBreaker,
    ConfigurationError,
    OpenAICompatible,
    RateLimit,
    RedisState,
    events,
)
from deepseek_resilient.testing import FaultServer, Ok, RedisServer, Status, Step


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client is asyncio only


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    steps: dict[str, Step] = {"down": Status(503), "slow": Ok("slow answer", delay=0.3)}

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        return steps.get(str((body or {}).get("model")), Ok("hello"))

    llm_server.rule = rule
    return llm_server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own, to kill or freeze."""
    try:
        with RedisServer() as server:
            yield server
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


# ------------------------------------------------------------------ configuration


def test_redis_state_checks_its_arguments() -> None:
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisState("http://localhost:6379")
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisState(namespace="has space")
    with pytest.raises(ConfigurationError, match="op_timeout"):
        RedisState(op_timeout=0)
    with pytest.raises(ConfigurationError, match="state must be a RedisState"):
        AsyncClient(
            [OpenAICompatible(name="p", base_url="http://127.0.0.1:9", model="m")],
            state="redis://localhost",
        )  # type: ignore[arg-type]


def test_repr_hides_the_password() -> None:
    state = RedisState("redis://user:hunter2@cache.internal:6380/2", namespace="app")
    assert "hunter2" not in repr(state) and "user" not in repr(state)
    assert "cache.internal:6380/2" in repr(state)


def test_missing_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"deepseek-resilient\[redis\]"):
        RedisState()


# ------------------------------------------------------------------ sharing


@pytest.mark.anyio
async def test_exactly_one_half_open_probe_across_clients(
    server: FaultServer, redis_url: str
) -> None:
    breaker = CircuitBreaker(window=4, min_calls=2, open_for=60.0, max_open_for=60.0)
    a = client(server, redis_url, "slow", "ok", breaker=breaker)
    b = client(server, redis_url, "slow", "ok", breaker=breaker)
    # Open, with its period already over: the next admission anywhere is the probe.
    r = redis_py.Redis.from_url(redis_url)
    r.hset(f"{{{NS}}}:cb:primary", mapping={"state": "open", "open_until": "0", "reopens": "1"})
    results: list[str | None] = []

    async def one(c: AsyncClient, i: int) -> None:
        resp = await c.chat.completions.create(**ask(f"probe {i}", temperature=0.7))
        results.append(resp.route.provider if resp.route else None)

    async with a, b, anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(one, a if i % 2 else b, i)
    assert model_calls(server, "slow") == 1  # one probe in the whole "cluster"
    assert results.count("primary") == 1 and results.count("backup") == 9
    assert r.hget(f"{{{NS}}}:cb:primary", "state") is None  # the probe closed it for everyone


@pytest.mark.anyio
async def test_keys_are_namespaced_and_hold_no_secret(server: FaultServer, redis_url: str) -> None:
    rate = RateLimit(requests_per_second=50, max_concurrency=4, tokens_per_minute=100_000)
    async with client(server, redis_url, cache=Cache(ttl=60), rate_limit=rate) as c:
        await c.chat.completions.create(**ask("secret-free", temperature=0))
    r = redis_py.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in r.keys("*"))
    assert keys and all(k.startswith(f"{{{NS}}}:") for k in keys), keys
    assert {k.split(":")[1] for k in keys} >= {"rl", "cache", "result"}
    for key in keys:
        kind = r.type(key).decode()
        dump = {
            "string": lambda: [r.get(key)],
            "hash": lambda: [*r.hkeys(key), *r.hvals(key)],
            "zset": lambda: r.zrange(key, 0, -1),
        }[kind]()
        assert not any(SECRET.encode() in v for v in dump if v), key
        assert not any(b"secret-free" in k.encode() for k in [key])  # prompts are hashed


# ------------------------------------------------------------------ failure


@pytest.mark.anyio
async def test_killed_redis_fails_no_request_and_warns_once(
    server: FaultServer, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    rate = RateLimit(requests_per_second=1000, max_concurrency=8)
    caplog.set_level(logging.WARNING, logger="deepseek_resilient")
    degraded: list[events.StateDegraded] = []

    class Hook:
        def on_state_degraded(self, event: events.StateDegraded) -> None:
            degraded.append(event)

    options: dict[str, Any] = {"cache": Cache(ttl=60), "rate_limit": rate, "hooks": [Hook()]}
    async with client(server, own_redis.url, **options) as c:
        for i in range(30):
            if i == 10:
                own_redis.kill()
            resp = await c.chat.completions.create(**ask(f"kill {i}", temperature=0))
            assert resp.choices[0].message.content == "hello"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "in-process state" in warnings[0].getMessage()
        assert "sk-" not in warnings[0].getMessage()
        assert len(degraded) == 1 and degraded[0].store.startswith("Redis at redis://127.0.0.1")
        own_redis.start()  # back: shared state resumes (bounded polling)
        with anyio.fail_after(10):
            while not redis_py.Redis.from_url(own_redis.url).keys(f"{{{NS}}}:cache:*"):
                await c.chat.completions.create(**ask("back", temperature=0, cache="refresh"))
                await anyio.sleep(0.02)
        assert any("answers again" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_during_an_outage_each_process_takes_its_share_of_the_limit(
    server: FaultServer, own_redis: RedisServer
) -> None:
    from deepseek_resilient._state.redis_limit import SharedRateLimiter

    rate = RateLimit(requests_per_second=40, max_concurrency=8)
    a = client(server, own_redis.url, rate_limit=rate)
    b = client(server, own_redis.url, rate_limit=rate)
    async with a, b:
        for c in (a, b, a, b):  # each has now seen the other
            await c.chat.completions.create(**ask("share", temperature=0.7))
        own_redis.kill()
        for c in (a, b):
            await c.chat.completions.create(**ask("share", temperature=0.7))  # Redis fails
            await c.chat.completions.create(**ask("share", temperature=0.7))  # its share
            limiter = c._slots[0].limiter
            assert isinstance(limiter, SharedRateLimiter)
            snap = limiter.snapshot()
            assert snap["requests_per_second"] == 20 and snap["concurrency"] == 4
        own_redis.start()
        with anyio.fail_after(10):  # back: the whole limit again (bounded polling)
            while limiter.snapshot()["requests_per_second"] != 40:
                await b.chat.completions.create(**ask("share", temperature=0.7))
                await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_frozen_redis_costs_one_timeout_not_a_failure(
    server: FaultServer, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis stops answering (SIGSTOP): the first operation waits out ``op_timeout`` once;
    every later one, for ``retry_interval``, goes to in-process state without touching Redis.
    Counted: the operations that reached Redis while it was frozen, and the timeouts."""
    from deepseek_resilient._state._link import RedisLink

    reached: list[str] = []  # operations that went to Redis (not short-cut by the outage)
    timed_out: list[str] = []
    run = RedisLink.run

    async def counting(self: RedisLink, what: str, fn: Any) -> Any:
        if self.up:
            reached.append(what)
        outages = self.outages
        result = await run(self, what, fn)
        if self.outages > outages:
            timed_out.append(what)
        return result

    monkeypatch.setattr(RedisLink, "run", counting)
    state = RedisState(own_redis.url, namespace=NS, op_timeout=0.5, retry_interval=60.0)
    rate = RateLimit(requests_per_second=1000)
    async with client(server, own_redis.url, state=state, rate_limit=rate) as c:
        await c.chat.completions.create(**ask("warm", temperature=0.7))
        await anyio.lowlevel.checkpoint()
        own_redis.freeze()
        reached.clear()
        try:
            started = anyio.current_time()
            with anyio.fail_after(20):  # a timeout per request would take 20 x 0.5 s
                for i in range(20):
                    answer = await c.chat.completions.create(**ask(f"frozen {i}", temperature=0.7))
                    assert answer.choices[0].message.content  # never a failure
            spent = anyio.current_time() - started
        finally:
            own_redis.thaw()
    assert len(timed_out) == 1  # one outage, entered once
    # the operation(s) in flight when Redis froze, then none: not one per request (>= 20)
    assert 1 <= len(reached) <= 3, reached
    assert spent >= 0.5  # the one timeout was really waited out
    assert spent < 0.5 * 8  # ... and not again per request (a generous bound)


@pytest.mark.anyio
async def test_corrupt_values_are_repaired_not_raised(server: FaultServer, redis_url: str) -> None:
    r = redis_py.Redis.from_url(redis_url)
    breaker = CircuitBreaker(window=4, min_calls=2)
    rate = RateLimit(requests_per_second=100, max_concurrency=4)
    async with client(
        server, redis_url, "ok", cache=Cache(ttl=60), rate_limit=rate, breaker=breaker
    ) as c:
        first = await c.chat.completions.create(**ask("corrupt", temperature=0))
    [cache_key] = r.keys(f"{{{NS}}}:cache:*")  # written in the background; aclose drained it
    [result_key] = r.keys(f"{{{NS}}}:result:*")
    for key in (cache_key, result_key):
        r.set(key, b"\x80not json{")
    r.set(f"{{{NS}}}:cb:primary", "garbage")  # wrong type
    r.hset(f"{{{NS}}}:rl:primary", mapping={"l:rps": "NaN?", "s:rps": "x"})
    r.set(f"{{{NS}}}:rl:primary:leases", "garbage")
    async with client(
        server, redis_url, "ok", cache=Cache(ttl=60), rate_limit=rate, breaker=breaker
    ) as c2:  # a fresh process: no L1
        again = await c2.chat.completions.create(**ask("corrupt", temperature=0))
        assert again.route is not None and again.route.cache == "miss"
        assert not again.route.coalesced  # the garbage result was not used either
        assert again.choices[0].message.content == first.choices[0].message.content
        await c2.chat.completions.create(**ask("corrupt 2", temperature=0.7))
    assert r.type(f"{{{NS}}}:cb:primary") == b"none"
    assert r.type(f"{{{NS}}}:rl:primary:leases") != b"string"  # replaced (and emptied on release)
    assert float(r.hget(f"{{{NS}}}:rl:primary", "l:rps") or "nan") < 100
    assert r.get(cache_key) != b"\x80not json{"


def test_sync_clients_share_the_cache(server: FaultServer, redis_url: str) -> None:
    from deepseek_resilient import Client

    def build() -> Client:
        return Client(
            [provider(server)], cache=Cache(ttl=60), state=RedisState(redis_url, namespace=NS)
        )

    with build() as one:
        first = one.chat.completions.create(**ask("sync", temperature=0))
        assert one.cache is None  # no disk cache: the answers live in Redis
    with build() as two:
        second = two.chat.completions.create(**ask("sync", temperature=0))
    assert first.route is not None and first.route.cache == "miss"
    assert second.route is not None and second.route.cache == "hit"
    assert server.calls == 1


def test_under_trio_the_client_keeps_its_state_in_process(
    server: FaultServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="deepseek_resilient")
    rate = RateLimit(requests_per_second=100)

    async def main() -> str | None:
        async with client(server, redis_url, cache=Cache(ttl=60), rate_limit=rate) as c:
            resp = await c.chat.completions.create(**ask("trio", temperature=0))
            return resp.choices[0].message.content

    assert anyio.run(main, backend="trio") == "hello"
    assert any("needs asyncio" in r.getMessage() for r in caplog.records)
    assert redis_py.Redis.from_url(redis_url).keys("*") == []


@pytest.mark.anyio
async def test_a_follower_takes_over_when_the_leader_died(
    server: FaultServer, redis_url: str
) -> None:
    from deepseek_resilient._client.create_args import validate_request as _validate
    from deepseek_resilient._policies.cache.layer import request_key

    async with client(server, redis_url) as c:
        request = _validate([{"role": "user", "content": "orphan"}], False, {"temperature": 0})
        key = request_key(request, c._pipeline._chain_ids)
        # A leader that took the lease and died: nobody renews it, nothing is published.
        r = redis_py.Redis.from_url(redis_url)
        assert r.set(f"{{{NS}}}:flight:{key}", "dead-leader", px=300, nx=True)
        resp = await c.chat.completions.create(**ask("orphan", temperature=0))
    assert resp.choices[0].message.content == "hello"
    assert resp.route is not None and not resp.route.coalesced
    assert resp.route.elapsed >= 0.1  # it followed the dead leader until its lease lapsed
    assert server.calls == 1  # the follower made the call itself once the lease lapsed
    assert r.hget(f"{{{NS}}}:result:{key}", "doc") is not None  # and published it for the others
