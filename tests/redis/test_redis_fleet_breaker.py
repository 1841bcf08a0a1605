"""The breaker's failures are counted fleet-wide: eight clients (each its own connection and
in-process state, as eight processes) stop calling a dead provider after about ``min_calls``
calls between them, not ``min_calls`` each."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _redis_support import ask, client, model_calls

from deepseek_resilient import AsyncClient, CircuitBreaker
from deepseek_resilient.testing import FaultServer, Ok, Status, Step


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    def rule(index: int, body: dict[str, Any] | None) -> Step:
        if (body or {}).get("model") == "down":
            return Status(503, message="dead")
        return Ok("hello")

    llm_server.rule = rule
    return llm_server


@pytest.mark.anyio
async def test_eight_processes_send_at_most_fifteen_requests_to_a_dead_provider(
    server: FaultServer, redis_url: str
) -> None:
    breaker = CircuitBreaker()  # the defaults: window 20, min_calls 5, failure rate 50 %
    clients = [client(server, redis_url, "down", "ok", breaker=breaker) for _ in range(8)]

    async def work(c: AsyncClient, n: int) -> None:
        async with c:
            for i in range(10):
                resp = await c.chat.completions.create(**ask(f"{n} {i}", temperature=0.7))
                assert resp.choices[0].message.content == "hello"  # the backup answers

    async with anyio.create_task_group() as tg:
        for n, c in enumerate(clients):
            tg.start_soon(work, c, n)
    assert model_calls(server, "down") <= 15
    assert model_calls(server, "ok") == 80  # every request answered (by the backup)
