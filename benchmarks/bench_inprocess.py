"""Our client's own CPU per call, without sockets: the benchmark server's exact bytes served
by an in-memory httpx2 transport, so the figures move only with our code (a 2-core machine
shared with other work makes the socket benchmark swing by ±15 %).

    python -m benchmarks.bench_inprocess [--calls 3000] [--repeats 3] [--count-calls]

Rows: ``floor`` (the transport called directly, the answer asked for as a stream and read with
``aiter_lines`` and one ``json.loads`` per event: section 1's raw-transport-sse row without the
network), ``one`` (defaults, one provider: unstreamed upstream), ``default`` (defaults, two
providers: streamed upstream) and ``all`` (every layer: disk cache missing and storing,
merging, a rate limit far above the load, retries, breaker, two providers). Each row runs in
this process after 64 warm-up calls, at concurrency 32; CPU = process time per call, median of
``--repeats``. ``--count-calls`` also prints Python function calls per request (cProfile: a
count that does not depend on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import anyio.lowlevel
import httpx2

from benchmarks._common import run_concurrently

_BASE = {"id": "chatcmpl-test-1", "object": "chat.completion.chunk", "created": 1796658649}
_WORDS = ["Hello ", "from ", "the ", "benchmark ", "server."]
_DELTAS = [{"role": "assistant"}, *({"content": w} for w in _WORDS)]
_CHUNKS = [{**_BASE, "model": "test-model", "choices": [{"index": 0, "delta": d}]} for d in _DELTAS]
_LAST = {"index": 0, "delta": {}, "finish_reason": "stop"}
_USAGE = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
_CHUNKS.append({**_BASE, "model": "test-model", "choices": [_LAST], "usage": _USAGE})
#: The SSE events the benchmark server sends for a streamed request, one HTTP chunk each.
EVENTS = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in _CHUNKS] + [b"data: [DONE]\n\n"]
MESSAGE = {"role": "assistant", "content": "Hello from the benchmark server."}
COMPLETION = json.dumps(
    {**_BASE, "object": "chat.completion", "model": "test-model", "usage": _USAGE,
     "choices": [{"index": 0, "message": MESSAGE, "finish_reason": "stop"}]}
).encode()  # fmt: skip
URL = "http://127.0.0.1:1/v1"


class _Body(httpx2.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            await anyio.lowlevel.checkpoint()  # a read that waits, as a socket's does
            yield piece


class InMemory(httpx2.AsyncBaseTransport):
    """Answers as the benchmark server does: SSE events for ``"stream": true``, else JSON."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if b'"stream": true' in request.content:
            headers = [(b"content-type", b"text/event-stream")]
            return httpx2.Response(200, headers=headers, stream=_Body(EVENTS))
        headers = [(b"content-type", b"application/json")]
        return httpx2.Response(200, headers=headers, stream=_Body([COMPLETION]))


async def _timed(calls: int, one: Callable[[int], Awaitable[None]], profile: Any) -> float:
    await run_concurrently(64, 32, lambda i: one(-1 - i))
    if profile is not None:
        profile.enable()
    started = time.process_time()
    await run_concurrently(calls, 32, one)
    cpu = time.process_time() - started
    if profile is not None:
        profile.disable()
    return cpu / calls


def _messages(tag: str, i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Say hello. ({tag}-{i})"}]


async def floor(calls: int, tmp: Path, profile: Any = None) -> float:
    tag, transport = uuid.uuid4().hex[:8], InMemory()
    url = httpx2.URL(URL + "/chat/completions")
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

    async def one(i: int) -> None:
        body = {"model": "ok", "messages": _messages(tag, i), "temperature": 0, "stream": True}
        request = httpx2.Request("POST", url, headers=headers, content=json.dumps(body))
        request.extensions["timeout"] = dict.fromkeys(("connect", "read", "write", "pool"), 60.0)
        response = await transport.handle_async_request(request)
        try:
            text = []
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        text.append(choice["delta"].get("content") or "")
            assert "".join(text)
        finally:
            await response.aclose()

    return await _timed(calls, one, profile)


async def ours(kind: str, calls: int, tmp: Path, profile: Any = None) -> float:
    import deepseek_resilient as dr

    providers = []
    for name in ["primary", "backup"][: 1 if kind == "one" else 2]:
        p = dr.OpenAICompatible(name=name, base_url=URL, model="ok", api_key="sk-bench")
        p._http = httpx2.AsyncClient(headers=p._headers(), transport=InMemory())  # our own client
        providers.append(p)
    options: dict[str, Any] = {"timeout": 60.0}
    params: dict[str, Any] = {}
    if kind == "all":
        limit = dr.RateLimit(requests_per_second=100_000, max_concurrency=10_000)
        cache = dr.Cache(directory=tmp / f"cache-{uuid.uuid4().hex[:8]}")
        options |= {"retry": dr.Retry(attempts=3), "breaker": dr.CircuitBreaker(),
                    "rate_limit": limit, "retry_budget": dr.RetryBudget(), "cache": cache,
                    "coalesce": True}  # fmt: skip
        params = {"temperature": 0}
    tag = uuid.uuid4().hex[:8]
    async with dr.AsyncClient(providers, **options) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(messages=_messages(tag, i), **params)
            assert r.choices[0].message.content

        return await _timed(calls, one, profile)


def run(kind: str, calls: int, profile: Any = None) -> float:
    with tempfile.TemporaryDirectory(prefix="ds-bench-") as tmp:
        if kind == "floor":
            return anyio.run(floor, calls, Path(tmp), profile)
        return anyio.run(ours, kind, calls, Path(tmp), profile)


def function_calls(kind: str, calls: int = 1000) -> float:
    import cProfile
    import pstats

    profile = cProfile.Profile()
    run(kind, calls, profile)
    stats: Any = pstats.Stats(profile)
    return sum(row[1] for row in stats.stats.values()) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count-calls", action="store_true")
    args = parser.parse_args()
    kinds = ["floor", "one", "default", "all"]
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            cpu[kind].append(run(kind, args.calls))
    base = statistics.median(cpu["floor"])
    for kind in kinds:
        us = statistics.median(cpu[kind]) * 1e6
        line = f"{kind:8s} CPU {us:6.0f} us/call  {us / (base * 1e6):.2f} x floor"
        if args.count_calls:
            line += f"  {function_calls(kind):6.0f} Python calls/request"
        print(line, flush=True)


if __name__ == "__main__":
    main()
