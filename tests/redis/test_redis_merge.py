"""Merging across processes never serves a stale answer: a published result goes to callers
that were waiting for it, or that arrive within their own cache TTL; without a cache nothing
is reused beyond the calls in flight. Two clients on one Redis stand for two processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis as redis_py
from _redis_support import PREFIX, ask, client

from deepseek_resilient import AsyncClient, Cache, ChatCompletion
from deepseek_resilient.testing import FaultServer, Ok


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    def rule(index: int, body: dict[str, Any] | None) -> Ok:
        slow = (body or {}).get("model") == "slow"
        return Ok(f"answer {index}", delay=0.4 if slow else 0.0)

    llm_server.rule = rule
    return llm_server


@pytest.fixture
def r(redis_url: str) -> Iterator[redis_py.Redis]:
    conn = redis_py.Redis.from_url(redis_url)
    yield conn
    conn.close()


def _age_result(r: redis_py.Redis, seconds: float) -> None:
    """Make the published result ``seconds`` old (by the server's clock)."""
    [key] = r.keys(f"{PREFIX}result:*")
    sec, usec = r.time()
    r.hset(key, "at", f"{sec * 1000 + usec / 1000 - seconds * 1000:.4f}")


async def _one(c: AsyncClient, text: str) -> ChatCompletion:
    answer: ChatCompletion = await c.chat.completions.create(**ask(text, temperature=0))
    return answer


@pytest.mark.anyio
async def test_callers_in_flight_share_one_call(server: FaultServer, redis_url: str) -> None:
    a, b = client(server, redis_url, "slow"), client(server, redis_url, "slow")
    answers: list[ChatCompletion] = []

    async def go(c: AsyncClient) -> None:
        answers.append(await _one(c, "in flight"))

    async with a, b, anyio.create_task_group() as tg:
        tg.start_soon(go, a)
        tg.start_soon(go, b)
    assert server.calls == 1
    assert sorted(bool(x.route and x.route.coalesced) for x in answers) == [False, True]


@pytest.mark.anyio
async def test_without_a_cache_a_finished_call_is_not_reused(
    server: FaultServer, redis_url: str, r: redis_py.Redis
) -> None:
    async with client(server, redis_url) as a:
        first = await _one(a, "no cache")
    assert r.keys(f"{PREFIX}result:*")  # published, for the callers that were waiting
    async with client(server, redis_url) as b:  # arrives after the call ended
        second = await _one(b, "no cache")
    assert server.calls == 2
    assert second.route is not None and not second.route.coalesced
    assert first.choices[0].message.content != second.choices[0].message.content


@pytest.mark.anyio
@pytest.mark.parametrize(("age", "reused"), [(1.0, True), (4.5, False)])
async def test_a_merged_answer_is_reused_only_within_the_cache_ttl(
    server: FaultServer, redis_url: str, r: redis_py.Redis, age: float, reused: bool
) -> None:
    async with client(server, redis_url, cache=Cache(ttl=3)) as a:
        await _one(a, "ttl")
    for key in r.keys(f"{PREFIX}cache:*"):  # the cache entry is gone (expired elsewhere)
        r.delete(key)
    _age_result(r, age)
    async with client(server, redis_url, cache=Cache(ttl=3)) as b:
        again = await _one(b, "ttl")
    assert again.route is not None and again.route.coalesced is reused
    assert server.calls == (1 if reused else 2)
