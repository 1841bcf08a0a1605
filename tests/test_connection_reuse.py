"""Connections go back to the pool after a stream's ``[DONE]`` (streams, and completions sent
upstream as streams while a fallback remains), so calls do not each open a new TCP connection."""

from __future__ import annotations

import pytest
from _support import USER, http_provider

from deepseek_resilient import AsyncClient
from deepseek_resilient.testing import FaultServer, Ok

pytestmark = pytest.mark.anyio


async def test_one_connection_serves_streams_and_streamed_completions() -> None:
    with FaultServer() as server:
        server.default = Ok("hello there")
        primary, backup = http_provider(server.base_url), http_provider(server.base_url, "b")
        async with AsyncClient([primary, backup]) as client:
            for _ in range(5):  # a fallback remains: sent upstream as a stream
                await client.chat.completions.create(messages=USER)
            for _ in range(5):
                stream = await client.chat.completions.create(messages=USER, stream=True)
                await stream.until_done()
        assert server.calls == 10
        assert server.connections == 1
