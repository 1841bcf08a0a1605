"""The local backends through the whole client: failover to the embedded model, streaming,
and the llama.cpp server preset against a real llama.cpp server (xllamacpp's) on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from _support import need

from deepseek_resilient import (
    AsyncClient,
    Client,
    DeepSeek,
    LlamaCpp,
    LlamaCppServer,
    Retry,
)
from deepseek_resilient._providers.local.embedded import embedded_model_path

pytestmark = [pytest.mark.local, pytest.mark.anyio]
ASK = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def local() -> LlamaCpp:
    return LlamaCpp(warm=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_deepseek_on_a_dead_port_fails_over_to_the_local_model(local: LlamaCpp) -> None:
    dead = DeepSeek(api_key="sk-unused", base_url=f"http://127.0.0.1:{_free_port()}")
    started = time.monotonic()
    async with AsyncClient([dead, local], timeout=30, retry=Retry(attempts=2, base=0.01)) as c:
        resp = await c.chat.completions.create(messages=ASK, max_tokens=8, temperature=0)
    assert time.monotonic() - started < 30
    assert resp.route is not None and resp.route.provider == "local"
    assert [a.error for a in resp.route.attempts[:2]] == ["APIConnectionError"] * 2
    assert resp.choices[0].message.content and resp.usage and resp.usage.completion_tokens > 0


def test_local_model_streams_through_the_sync_client(local: LlamaCpp) -> None:
    with Client([local], timeout=60) as client:
        with client.chat.completions.create(messages=ASK, max_tokens=12, stream=True) as stream:
            chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert stream.route.provider == "local"


_SERVER = """
import sys, xllamacpp
params = xllamacpp.CommonParams()
params.model.path, params.port, params.n_ctx = sys.argv[1], int(sys.argv[2]), 1024
params.verbosity = -1
server = xllamacpp.Server(params)
print(server.listening_address, flush=True)
sys.stdin.read()  # serve until the test closes our stdin (or kills us)
"""


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """A real llama.cpp server (llama-server, embedded in xllamacpp) on loopback with the
    embedded model; stopped after the module."""
    need("xllamacpp")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(embedded_model_path()), str(_free_port())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()  # printed once it serves
        assert address.startswith("http://127.0.0.1:"), "the llama.cpp server did not start"
        yield f"{address}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_llama_server_preset_against_a_real_server(llama_server: str) -> None:
    provider = LlamaCppServer(llama_server)
    async with AsyncClient([provider], timeout=60) as client:
        resp = await client.chat.completions.create(messages=ASK, max_tokens=8, temperature=0)
        stream = await client.chat.completions.create(messages=ASK, max_tokens=8, stream=True)
        async with stream:
            chunks = [c async for c in stream]
        assert await provider.models()
    assert resp.choices[0].message.content and resp.usage and resp.usage.total_tokens > 0
    assert resp.route is not None and resp.route.provider == "llama-server"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
