"""A CPU stall is not an outage: while this process does not run (here: its event loop is
blocked, as when eight workers start at once on two cores), replies that arrived meanwhile
are still taken, and Redis is not declared degraded."""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from _redis_support import NS, ask, client

from deepseek_resilient import RateLimit, RedisState
from deepseek_resilient.testing import FaultServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _stall(seconds: float) -> None:
    time.sleep(seconds)  # the stimulus: the whole event loop stops, as under CPU starvation


@pytest.mark.anyio
async def test_a_stalled_event_loop_does_not_degrade_redis(
    llm_server: FaultServer, redis_url: str
) -> None:
    state = RedisState(
        redis_url, namespace=NS, op_timeout=0.05, max_op_timeout=0.2, retry_interval=30.0
    )
    rate = RateLimit(requests_per_second=1000, max_concurrency=50)
    options: dict[str, Any] = {"state": state, "rate_limit": rate}
    async with client(llm_server, redis_url, **options) as c:
        await c.chat.completions.create(**ask("warm", temperature=0.7))
        link = getattr(c._store, "link")

        async def stalls() -> None:
            for _ in range(5):
                for _ in range(3):  # let the requests queue their Redis operations, and the
                    await anyio.lowlevel.checkpoint()  # link send them (one pipeline)
                _stall(0.3)  # six times the operation timeout
                await anyio.sleep(0.02)

        async def one(i: int) -> None:
            await c.chat.completions.create(**ask(f"stall {i}", temperature=0.7))

        async with anyio.create_task_group() as tg:
            tg.start_soon(stalls)
            for i in range(20):
                tg.start_soon(one, i)
        assert link.timer.stalls >= 1  # the stalls did hit operations in flight
        assert link.outages == 0 and link.up  # and none of them was taken for an outage


@pytest.mark.anyio
async def test_a_frozen_redis_is_still_an_outage_after_two_timeouts(
    llm_server: FaultServer, redis_url: str
) -> None:
    from deepseek_resilient.testing import RedisServer

    try:
        with RedisServer() as own:
            state = RedisState(own.url, namespace=NS, op_timeout=0.05, max_op_timeout=0.2)
            async with client(llm_server, own.url, state=state) as c:
                await c.chat.completions.create(**ask("warm", temperature=0.7))
                link = getattr(c._store, "link")
                own.freeze()
                try:
                    with anyio.fail_after(5):
                        for i in range(5):
                            await c.chat.completions.create(**ask(f"f {i}", temperature=0.7))
                finally:
                    own.thaw()
                assert link.outages == 1
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
