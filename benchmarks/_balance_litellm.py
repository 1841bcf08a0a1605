"""The LiteLLM side of the load-balancing benchmark, run in its own interpreter (the one
LiteLLM is installed in): ``python -m benchmarks._balance_litellm URLS STRATEGY N CONCURRENCY
WARMUP``. Only the standard library and litellm are imported.

It sends WARMUP streamed requests through a LiteLLM ``Router`` over the three backends,
prints ``ready``, waits for a line on stdin (the parent zeroes the backends' counters), then
sends N more with CONCURRENCY in flight and prints their times to first token as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the cost map
MESSAGES = [{"role": "user", "content": "Hi"}]


async def _one(router: Any, ttfts: list[float], errors: list[str]) -> None:
    started = time.perf_counter()
    try:
        response = await router.acompletion(model="m", messages=MESSAGES, stream=True)
        first = None
        async for chunk in response:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        if first is None:
            errors.append("no content")
        else:
            ttfts.append(first)
    except Exception as exc:  # counted, the run goes on
        errors.append(type(exc).__name__)


async def _run(router: Any, n: int, concurrency: int) -> tuple[list[float], list[str]]:
    ttfts: list[float] = []
    errors: list[str] = []
    left = iter(range(n))

    async def worker() -> None:
        for _ in left:
            await _one(router, ttfts, errors)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ttfts, errors


async def main() -> None:
    urls = json.loads(sys.argv[1])
    strategy, n, concurrency, warmup = sys.argv[2], *map(int, sys.argv[3:6])
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    model_list = [
        {
            "model_name": "m",
            "litellm_params": {
                "model": "openai/test-model",
                "api_base": url,
                "api_key": "sk-bench",
            },
            "model_info": {"id": name},
        }
        for name, url in urls.items()
    ]
    router = Router(model_list=model_list, routing_strategy=strategy, num_retries=0, timeout=30)
    await _run(router, warmup, concurrency)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    ttfts, errors = await _run(router, n, concurrency)
    import litellm as version_source

    version = getattr(version_source, "__version__", None)
    if version is None:
        from importlib import metadata

        version = metadata.version("litellm")
    print(json.dumps({"ttft": ttfts, "errors": errors, "version": version}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
