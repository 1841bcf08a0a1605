"""Scripted traffic for the exporter tests: retries, a failover, a cache hit, a stream."""

from __future__ import annotations

from pathlib import Path

from _support import FAST_RETRY, SECRET, http_provider

from deepseek_resilient import AsyncClient, Cache, CircuitBreaker
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Ok, Status

PROMPT = "the quokka-parable-7731 question"
"""A distinctive prompt: it must never appear in a label, an attribute or a span."""
NEVER_SEEN = (SECRET, PROMPT, "quokka")


async def run_traffic(server: FaultServer, tmp: Path, hooks: list[object]) -> None:
    """1: 503 then ok (one retry, cache miss); 2: the same again (cache hit); 3: three 500s
    (two retries) then the local fallback answers; 4: a stream the primary answers."""
    user = [{"role": "user", "content": PROMPT}]
    async with AsyncClient(
        [http_provider(server.base_url, name="deepseek"), FakeProvider("local")],
        retry=FAST_RETRY,
        breaker=CircuitBreaker(window=20, min_calls=20),
        cache=Cache(directory=tmp),
        clock=FakeClock(),
        hooks=hooks,
    ) as client:
        server.script(Status(503), Ok("hello there"))
        await client.chat.completions.create(messages=user, temperature=0)
        await client.chat.completions.create(messages=user, temperature=0)
        server.script(Status(500), Status(500), Status(500))
        await client.chat.completions.create(messages=user, temperature=0.7)
        server.script(Ok("one two three"))
        stream = await client.chat.completions.create(messages=user, stream=True)
        await stream.until_done()
