"""Where the drop-in's extra CPU goes: each part timed alone, in one process, with an
in-memory upstream (no network, no server), one call at a time.

    python -m benchmarks.bench_dropin_parts [--calls 2000] [--repeats 5]

Rows (best of ``--repeats`` runs, µs of process CPU per call):

* ``openai``: genuine ``openai.AsyncOpenAI`` over the in-memory upstream (openai's own work);
* ``dropin``: our ``AsyncOpenAI``, its endpoint's HTTP client sending to the same upstream;
* ``transport``: our transport alone (an httpx2 request in, the response read);
* ``native``: ``AsyncClient``'s create alone (the pipeline and the provider);
* ``provider``: the endpoint provider alone (its HTTP request, the answer read and parsed);
* ``upstream``: the in-memory upstream alone (an httpx2 request in, the response read);
* ``openai-stream`` / ``dropin-stream``: a streamed call (8 chunks) read to the end, by
  genuine openai and by our drop-in.

``--only PART --calls N`` runs one part and times nothing: the difference between two such
runs under an instruction counter (``valgrind --tool=callgrind``) is a deterministic cost.

The pipeline is ``native - provider``, the transport's glue ``transport - native - upstream``.
The private attributes touched here only swap the endpoint's transport for the in-memory one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
import httpx2

ANSWER = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1796658792, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello from the benchmark."}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
}).encode()  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1796658792,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


#: A streamed answer: the role, six pieces of text, the finish.
WORDS = ["Hello", " from", " the", " streamed", " bench", "mark."]
EVENTS = b"".join(
    b"data: " + json.dumps(event).encode() + b"\n\n"
    for event in [_chunk({"role": "assistant", "content": ""}),
                  *(_chunk({"content": w}) for w in WORDS), _chunk({}, "stop")]
) + b"data: [DONE]\n\n"  # fmt: skip
URL = "http://127.0.0.1:9/v1"
TIMEOUT = {"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}


class Upstream(httpx2.AsyncBaseTransport):
    """Answers every request with the same completion (streamed when asked), from memory."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        streamed = b'"stream":true' in (await request.aread()).replace(b" ", b"")
        body, kind = (EVENTS, "text/event-stream") if streamed else (ANSWER, "application/json")
        headers = [("content-type", kind), ("content-length", str(len(body)))]
        stream = httpx2.ByteStream(body)
        return httpx2.Response(200, headers=headers, stream=stream, request=request)


async def setup() -> dict[str, Callable[[], Awaitable[None]]]:
    """One coroutine function per part, each making one call."""
    import openai

    from deepseek_resilient import AsyncOpenAI
    from deepseek_resilient._models import ChatRequest

    upstream = Upstream()
    control = openai.AsyncOpenAI(
        base_url=URL, api_key="sk-bench", http_client=httpx2.AsyncClient(transport=upstream)
    )
    dropin = AsyncOpenAI(base_url=URL, api_key="sk-bench", local=False)
    native = dropin.transport.client
    provider: Any = native.providers[0]
    provider._send()  # its HTTP client, then sending to the in-memory upstream
    provider._http._transport, provider._http._mounts = upstream, {}
    provider._sender._urls.clear()
    count = iter(range(10**9))

    def messages() -> list[dict[str, str]]:
        return [{"role": "user", "content": f"Say hello. ({next(count)})"}]

    def request() -> httpx2.Request:
        body = json.dumps({"messages": messages(), "model": "m"}).encode()
        headers = {"content-type": "application/json"}
        url = f"{URL}/chat/completions"
        return httpx2.Request("POST", url, content=body, headers=headers,
                              extensions={"timeout": TIMEOUT})  # fmt: skip

    async def via_openai() -> None:
        await control.chat.completions.create(model="m", messages=messages())  # type: ignore[arg-type]

    async def via_dropin() -> None:
        await dropin.chat.completions.create(model="m", messages=messages())  # type: ignore[arg-type]

    async def via_openai_stream() -> None:
        stream = await control.chat.completions.create(model="m", messages=messages(), stream=True)  # type: ignore[arg-type]
        async for _ in stream:  # type: ignore[union-attr]
            pass

    async def via_dropin_stream() -> None:
        stream = await dropin.chat.completions.create(model="m", messages=messages(), stream=True)  # type: ignore[arg-type]
        async for _ in stream:  # type: ignore[union-attr]
            pass

    async def via_transport() -> None:
        await (await dropin.transport.handle_async_request(request())).aread()

    async def via_native() -> None:
        await native._create(messages(), False, {"model": "m", "timeout": 600.0})

    async def via_provider() -> None:
        chat = ChatRequest.model_validate({"messages": messages(), "model": "m"})
        await provider.complete(chat, idle_timeout=600.0)

    async def via_upstream() -> None:
        await (await upstream.handle_async_request(request())).aread()

    parts: dict[str, Callable[[], Awaitable[None]]] = {
        "openai": via_openai, "dropin": via_dropin, "transport": via_transport,
        "native": via_native, "provider": via_provider, "upstream": via_upstream,
        "openai-stream": via_openai_stream, "dropin-stream": via_dropin_stream,
    }  # fmt: skip
    return parts


async def measure(calls: int, repeats: int, names: list[str] | None = None) -> dict[str, float]:
    parts = await setup()
    if names:
        parts = {name: parts[name] for name in names}
    best = {name: float("inf") for name in parts}
    for one in parts.values():
        for _ in range(300):  # warm up
            await one()
    for _ in range(repeats):
        for name, one in parts.items():
            started = time.process_time()
            for _ in range(calls):
                await one()
            best[name] = min(best[name], (time.process_time() - started) / calls)
    return best


async def only(part: str, calls: int) -> None:
    one = (await setup())[part]
    for _ in range(100 + calls):
        await one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only",
        help="run CALLS calls of this part after 100 to warm up, "
        "and time nothing (for an instruction counter such as callgrind)",
    )
    parser.add_argument("--parts", help="comma-separated parts to time (default: all)")
    args = parser.parse_args()
    if args.only:
        anyio.run(only, args.only, args.calls)
        return
    names = args.parts.split(",") if args.parts else None
    best = anyio.run(measure, args.calls, args.repeats, names)
    for name, seconds in best.items():
        print(f"{name:<13} {seconds * 1e6:8.1f} us per call")
    if names:
        return
    pipeline = best["native"] - best["provider"]
    glue = best["transport"] - best["native"] - best["upstream"]
    stream_extra = best["dropin-stream"] - best["openai-stream"]
    print(f"streamed: drop-in extra {stream_extra * 1e6:.1f} us")
    print(f"pipeline {pipeline * 1e6:.1f} us, glue {glue * 1e6:.1f} us, drop-in extra "
          f"{(best['dropin'] - best['openai']) * 1e6:.1f} us")  # fmt: skip


if __name__ == "__main__":
    main()
