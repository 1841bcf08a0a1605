"""A ``least_busy`` tier on ``RedisState`` counts the requests in flight of every process:
two clients on one Redis stand for two processes."""

from __future__ import annotations

import anyio
import pytest

from deepseek_resilient import AsyncClient, AsyncStream, RedisState, Retry, Tier
from deepseek_resilient.testing import FakeProvider

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client is asyncio only


def _client(members: list[str], redis_url: str | None) -> AsyncClient:
    providers = [FakeProvider(n, default="one two") for n in members]
    state = RedisState(redis_url, namespace="inflight") if redis_url else None
    tier = Tier(providers, strategy="least_busy", name="pool", seed=1)
    return AsyncClient([tier], state=state, retry=Retry(attempts=1), coalesce=False)


async def _settled(client: AsyncClient) -> None:
    """Let the background counter writes land (they never sit on a request's path)."""
    with anyio.fail_after(5):
        await client._store.link.drain()  # type: ignore[attr-defined]


async def _open(client: AsyncClient, n: int) -> list[AsyncStream]:
    streams = []
    for _ in range(n):
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert isinstance(stream, AsyncStream)
        streams.append(stream)
        await _settled(client)
    return streams


@pytest.mark.anyio
async def test_least_busy_sees_the_other_processes_requests(redis_url: str) -> None:
    # "Process" 1 holds three streams on member a; process 2 has a and b idle locally, yet
    # sends its next three to b: it sees a's three requests through Redis.
    async with _client(["a"], redis_url) as one, _client(["a", "b"], redis_url) as two:
        held = await _open(one, 3)
        mine = await _open(two, 3)
        assert [s.route.provider for s in mine] == ["b", "b", "b"]
        for s in [*held, *mine]:
            await s.close()
        await _settled(one)
        await _settled(two)
        # every request ended: the counters are back to zero, both members are idle again
        assert await two._pipeline._shared[0].refresh() == [0, 0]


@pytest.mark.anyio
async def test_without_redis_each_process_counts_its_own(redis_url: str) -> None:
    async with _client(["a"], redis_url) as one, _client(["a", "b"], None) as two:
        held = await _open(one, 3)
        mine = []
        for _ in range(3):
            mine.append(await two.chat.completions.create(messages=USER, stream=True))
        assert sorted(s.route.provider for s in mine).count("a") >= 1  # blind to "one"
        for s in [*held, *mine]:
            await s.close()
