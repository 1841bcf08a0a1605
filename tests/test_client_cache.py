"""The disk cache and request merging wired into the client (issue 4)."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
from _support import SECRET, USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    Cache,
    Client,
    Retry,
    ServiceUnavailableError,
)
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Ok, Status

pytestmark = pytest.mark.anyio
GREEDY = {"messages": USER, "temperature": 0}


def cache_cfg(tmp_path: Path, **kw: float) -> Cache:
    return Cache(directory=tmp_path / "cache", **kw)  # type: ignore[arg-type]


async def test_hit_after_miss_makes_zero_upstream_calls(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    async with AsyncClient(
        [http_provider(llm_server.base_url)], cache=cache_cfg(tmp_path)
    ) as client:
        first = await client.chat.completions.create(**GREEDY)
        second = await client.chat.completions.create(**GREEDY)
    assert llm_server.calls == 1
    assert first.route is not None and first.route.cache == "miss"
    assert second.route is not None and second.route.cache == "hit"
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage == first.usage


async def test_ttl_expiry_with_a_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = FakeProvider("p")
    cfg = cache_cfg(tmp_path, ttl=60, stale_if_error=0)
    async with AsyncClient([fake], cache=cfg, clock=clock) as client:
        await client.chat.completions.create(**GREEDY)
        clock.advance(59)
        hit = await client.chat.completions.create(**GREEDY)
        clock.advance(2)
        miss = await client.chat.completions.create(**GREEDY)
    assert fake.calls == 2
    assert hit.route is not None and hit.route.cache == "hit"
    assert miss.route is not None and miss.route.cache == "miss"


async def test_stale_if_error_answers_and_is_flagged(tmp_path: Path) -> None:
    clock = FakeClock()
    busy = ServiceUnavailableError("busy", status_code=503)
    fake = FakeProvider("p", ["fresh answer"], default=busy)
    cfg = cache_cfg(tmp_path, ttl=60, stale_if_error=3600)
    async with AsyncClient([fake], cache=cfg, clock=clock, retry=Retry(attempts=1)) as client:
        await client.chat.completions.create(**GREEDY)
        clock.advance(120)
        stale = await client.chat.completions.create(**GREEDY)
        clock.advance(3600)
        with pytest.raises(AllProvidersFailed):
            await client.chat.completions.create(**GREEDY)
    assert stale.route is not None and stale.route.cache == "stale"
    assert stale.choices[0].message.content == "fresh answer"
    assert stale.route.attempts[0].error == "ServiceUnavailableError"


async def test_refresh_bypass_and_no_store(tmp_path: Path) -> None:
    fake = FakeProvider("p", ["one", "two", "three", "four"])
    async with AsyncClient([fake], cache=cache_cfg(tmp_path)) as client:
        a = await client.chat.completions.create(**GREEDY)
        b = await client.chat.completions.create(**GREEDY, cache="refresh")
        c = await client.chat.completions.create(**GREEDY)
        d = await client.chat.completions.create(**GREEDY, cache="bypass")
        e = await client.chat.completions.create(**GREEDY, cache="no-store")
    got = [r.choices[0].message.content for r in (a, b, c, d, e)]
    assert got == ["one", "two", "two", "three", "two"]
    assert [r.route.cache for r in (a, b, c, d, e)] == ["miss", "miss", "hit", "bypass", "hit"]  # type: ignore[union-attr]


async def test_non_deterministic_requests_are_not_cached_unless_opted_in(
    tmp_path: Path,
) -> None:
    fake = FakeProvider("p")
    async with AsyncClient([fake], cache=cache_cfg(tmp_path)) as client:
        for _ in range(2):
            r = await client.chat.completions.create(messages=USER, temperature=0.7)
            assert r.route is not None and r.route.cache == "bypass"
        await client.chat.completions.create(messages=USER, temperature=0.7, cache=True)
        opted = await client.chat.completions.create(messages=USER, temperature=0.7, cache=True)
        seeded = await client.chat.completions.create(messages=USER, temperature=0.7, seed=1)
    assert opted.route is not None and opted.route.cache == "hit"
    assert seeded.route is not None and seeded.route.cache == "miss"
    assert fake.calls == 4


async def test_errors_are_never_cached(tmp_path: Path) -> None:
    fake = FakeProvider("p", [ServiceUnavailableError("busy", status_code=503), "ok"])
    async with AsyncClient([fake], cache=cache_cfg(tmp_path), retry=Retry(attempts=1)) as c:
        with pytest.raises(AllProvidersFailed):
            await c.chat.completions.create(**GREEDY)
        r = await c.chat.completions.create(**GREEDY)
    assert r.choices[0].message.content == "ok" and r.route and r.route.cache == "miss"


async def test_directory_is_private_and_holds_no_api_key(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    async with AsyncClient(
        [http_provider(llm_server.base_url)], cache=Cache(directory=directory)
    ) as c:
        for i in range(5):
            await c.chat.completions.create(messages=[{"role": "user", "content": f"q{i}"}], seed=i)
        assert c.cache is not None and c.cache.stats().entries == 5
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    blobs = b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
    assert b"Hello from the test server" in blobs  # the search reads the stored answers...
    assert SECRET.encode() not in blobs  # ...and the key is nowhere


async def test_cache_admin_surface(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_RESILIENT_CACHE_DIR", str(tmp_path / "env-dir"))
    async with AsyncClient([FakeProvider("p")], cache=Cache()) as client:
        await client.chat.completions.create(**GREEDY)
        await client.chat.completions.create(**GREEDY)
        assert client.cache is not None
        stats = client.cache.stats()
        assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)
        assert stats.directory == tmp_path / "env-dir" and stats.size_bytes > 0
        client.cache.clear()
        assert client.cache.stats().entries == 0


async def test_100_identical_concurrent_requests_make_one_upstream_call(
    llm_server: FaultServer,
) -> None:
    llm_server.default = Ok("shared", delay=0.2)
    results = []
    async with AsyncClient([http_provider(llm_server.base_url)]) as client:

        async def one() -> None:
            results.append(await client.chat.completions.create(**GREEDY))

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
    assert llm_server.calls == 1 and len(results) == 100
    assert {r.choices[0].message.content for r in results} == {"shared"}
    assert sum(bool(r.route and r.route.coalesced) for r in results) == 99
    assert len({id(r) for r in results}) == 100  # each caller has its own object and route


def test_16_threads_of_a_sync_client_share_one_call(llm_server: FaultServer) -> None:
    llm_server.default = Ok("shared", delay=0.3)
    barrier = threading.Barrier(16)
    with Client([http_provider(llm_server.base_url)]) as client:

        def one(_: int) -> str:
            barrier.wait()
            return client.chat.completions.create(**GREEDY).choices[0].message.content or ""

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(16)))
    assert answers == ["shared"] * 16 and llm_server.calls == 1


async def test_an_error_reaches_every_waiter_once(llm_server: FaultServer) -> None:
    llm_server.default = Status(503, delay=0.1)
    errors: list[BaseException] = []
    async with AsyncClient([http_provider(llm_server.base_url)], retry=Retry(attempts=1)) as c:

        async def one() -> None:
            try:
                await c.chat.completions.create(**GREEDY)
            except AllProvidersFailed as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
    assert len(errors) == 20 and llm_server.calls == 1
    assert len({id(e) for e in errors}) == 20  # each waiter its own error object
    assert {type(e.errors[0]) for e in errors} == {ServiceUnavailableError}  # type: ignore[attr-defined]


async def _two_waiters(
    llm_server: FaultServer, leaving: int, merged: list[bool] | None = None
) -> list[str]:
    """Two identical requests merged; waiter ``leaving`` (0: the starter) is cancelled.
    ``merged`` gets each answer's ``route.coalesced``."""
    llm_server.default = Ok("survived", delay=0.3)
    got: list[str] = []
    scopes = [anyio.CancelScope(), anyio.CancelScope()]
    async with AsyncClient([http_provider(llm_server.base_url)]) as client:

        async def one(scope: anyio.CancelScope) -> None:
            with scope:
                r = await client.chat.completions.create(**GREEDY)
                got.append(r.choices[0].message.content or "")
                if merged is not None:
                    merged.append(r.route.coalesced)

        async with anyio.create_task_group() as tg:
            for scope in scopes:
                tg.start_soon(one, scope)
                await anyio.wait_all_tasks_blocked()
            scopes[leaving].cancel()
    assert scopes[leaving].cancelled_caught
    return got


async def test_a_joiner_leaving_does_not_cancel_the_call(llm_server: FaultServer) -> None:
    assert await _two_waiters(llm_server, leaving=1) == ["survived"]
    assert llm_server.calls == 1


async def test_the_starter_leaving_hands_the_call_to_the_others(llm_server: FaultServer) -> None:
    # The call ran in the starter's task and ends with it; the other waiter runs it again.
    merged: list[bool] = []
    assert await _two_waiters(llm_server, leaving=0, merged=merged) == ["survived"]
    assert llm_server.calls == 2
    assert merged == [False]  # the survivor's answer came from its own call


async def test_the_call_is_cancelled_when_every_waiter_left(llm_server: FaultServer) -> None:
    from deepseek_resilient.testing import Stall

    llm_server.default = Stall(seconds=5, interval=0.05)
    async with AsyncClient([http_provider(llm_server.base_url)]) as client:
        with anyio.move_on_after(0.2):
            await client.chat.completions.create(**GREEDY)
        # the upstream connection is dropped: the server's stall loop sees it go away
        with anyio.fail_after(3):
            while llm_server._conns:  # noqa: ASYNC110 - a set owned by server threads
                await anyio.sleep(0.02)
        llm_server.default = Ok("fresh")
        r = await client.chat.completions.create(**GREEDY)  # a new call, not the dead one
    assert r.choices[0].message.content == "fresh" and llm_server.calls == 2
