"""Transformers provider: 8 concurrent requests micro-batched vs the same 8 one at a time.

Run: ``PYTHONPATH=. python benchmarks/bench_transformers.py [--repeats 3] [--max-tokens 32]``

Greedy decoding of the embedded SmolLM2-135M GGUF (de-quantised to float32 by transformers).
Throughput = total completion tokens / wall time of the whole set. Reports medians and the
ratio batched / sequential (target >= 5x). Also counts the ``generate`` calls.
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio

from deepseek_resilient._providers.hf_transformers import Transformers
from deepseek_resilient._types import ChatCompletion, ChatRequest

QUESTIONS = [
    "Write a short poem about the sea.",
    "Explain what a cat is.",
    "Describe a sunny day.",
    "Tell me about the moon.",
    "What is a good breakfast?",
    "Describe a forest.",
    "Why is the sky blue?",
    "Tell me about trains.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    t0 = time.perf_counter()
    provider = Transformers(warm=True)
    load = time.perf_counter() - t0
    requests = [
        ChatRequest.model_validate(
            {
                "messages": [{"role": "user", "content": q}],
                "temperature": 0,
                "max_tokens": args.max_tokens,
            }
        )
        for q in QUESTIONS
    ]

    def tokens(results: list[ChatCompletion]) -> int:
        return sum(r.usage.completion_tokens for r in results if r.usage)

    async def sequential() -> tuple[float, int]:
        t = time.perf_counter()
        results = [await provider.complete(r, idle_timeout=600) for r in requests]
        return tokens(results) / (time.perf_counter() - t), 0

    async def batched() -> tuple[float, int]:
        results: list[ChatCompletion | None] = [None] * len(requests)

        async def one(i: int) -> None:
            results[i] = await provider.complete(requests[i], idle_timeout=600)

        calls = provider.generate_calls
        t = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(len(requests)):
                tg.start_soon(one, i)
        dt = time.perf_counter() - t
        return tokens([r for r in results if r]) / dt, provider.generate_calls - calls

    seq: list[float] = []
    bat: list[float] = []
    calls: list[int] = []

    async def bench() -> None:
        await provider.complete(requests[0], idle_timeout=600)  # warm-up
        for _ in range(args.repeats):
            seq.append((await sequential())[0])
            tps, n = await batched()
            bat.append(tps)
            calls.append(n)

    anyio.run(bench)
    s, b = statistics.median(seq), statistics.median(bat)
    print(
        f"model: {provider.model} (float32, CPU)  load {load:.1f} s  "
        f"max_tokens={args.max_tokens}  requests={len(requests)}  repeats={args.repeats}"
    )
    print(f"{'mode':<30}{'median tok/s':>14}{'min':>10}{'max':>10}")
    print(f"{'one at a time (8 x generate)':<30}{s:>14.1f}{min(seq):>10.1f}{max(seq):>10.1f}")
    label = f"micro-batched ({max(calls)} x generate)"
    print(f"{label:<30}{b:>14.1f}{min(bat):>10.1f}{max(bat):>10.1f}")
    print(f"ratio batched/sequential: {b / s:.2f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
