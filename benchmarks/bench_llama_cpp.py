"""LlamaCpp provider vs raw llama-cpp-python, same model, prompt and settings, one run.

Run: ``PYTHONPATH=. python benchmarks/bench_llama_cpp.py [--repeats 7] [--max-tokens 64]``

Both sides generate greedily (temperature 0) from the embedded SmolLM2-135M GGUF, one
request at a time; tokens/s = completion tokens / wall time of the whole call. Both start
every request from an empty context (the provider's default; ``Llama.reset()`` for raw), so
they do the same work. Reports medians and the ratio provider / raw (target >= 0.95).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio

from deepseek_resilient._providers._embedded import embedded_model_path
from deepseek_resilient._providers.llama_cpp import LlamaCpp
from deepseek_resilient._types import ChatRequest

PROMPT = "Write a short poem about the sea."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from llama_cpp import Llama

    path = embedded_model_path()
    raw: Any = Llama(model_path=str(path), n_ctx=2048, verbose=False)
    provider = LlamaCpp(path, n_ctx=2048, warm=True)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    request = ChatRequest.model_validate(
        {"messages": messages, "temperature": 0, "max_tokens": args.max_tokens}
    )

    def run_raw() -> tuple[int, float]:
        t0 = time.perf_counter()
        raw.reset()
        out: Any = raw.create_chat_completion(
            messages=messages, temperature=0, max_tokens=args.max_tokens
        )
        return out["usage"]["completion_tokens"], time.perf_counter() - t0

    async def run_provider() -> tuple[int, float]:
        t0 = time.perf_counter()
        resp = await provider.complete(request, idle_timeout=60)
        assert resp.usage is not None
        return resp.usage.completion_tokens, time.perf_counter() - t0

    raw_tps: list[float] = []
    ours_tps: list[float] = []

    async def bench() -> None:
        await run_provider()  # warm-up both
        run_raw()
        for _ in range(args.repeats):  # interleave so background load hits both alike
            n, dt = run_raw()
            raw_tps.append(n / dt)
            n, dt = await run_provider()
            ours_tps.append(n / dt)

    anyio.run(bench)
    raw_med, ours_med = statistics.median(raw_tps), statistics.median(ours_tps)
    print(f"model: {path.name}  max_tokens={args.max_tokens}  repeats={args.repeats}")
    rows = [
        ("raw Llama.create_chat_completion", raw_med, raw_tps),
        ("LlamaCpp.complete (provider)", ours_med, ours_tps),
    ]
    print(f"{'side':<34}{'median tok/s':>14}{'min':>10}{'max':>10}")
    for label, med, values in rows:
        print(f"{label:<34}{med:>14.1f}{min(values):>10.1f}{max(values):>10.1f}")
    print(f"ratio provider/raw: {ours_med / raw_med:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
