"""transformers: 8 concurrent requests micro-batched vs the same 8 one at a time.

    python -m benchmarks.bench_transformers [--repeats 2] [--max-tokens 32]

Both through ``AsyncClient([Transformers()])`` (the embedded SmolLM2-135M GGUF, de-quantised
to float32 by transformers, CPU), greedy. Throughput = total completion tokens / wall time
of the whole set of 8. Interleaved; medians; also counts the ``generate`` calls.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import Section, Target, median, skipped

TITLE = "4b. transformers: micro-batching 8 concurrent vs one at a time"
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


def run(repeats: int, max_tokens: int) -> Section:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        from deepseek_resilient import AsyncClient, Transformers

        t0 = time.perf_counter()
        provider = Transformers(warm=True)
        load = time.perf_counter() - t0
    except Exception as exc:
        return skipped(TITLE, f"transformers, torch or the embedded model is missing ({exc})")

    seq: list[float] = []
    bat: list[float] = []
    calls: list[int] = []

    async def bench() -> None:
        async with AsyncClient([provider], timeout=600) as client:

            async def ask(q: str) -> int:
                r: Any = await client.chat.completions.create(
                    messages=[{"role": "user", "content": q}],
                    temperature=0,
                    max_tokens=max_tokens,
                )
                return int(r.usage.completion_tokens) if r.usage else 0

            async def sequential() -> float:
                t = time.perf_counter()
                tokens = [await ask(q) for q in QUESTIONS]
                return sum(tokens) / (time.perf_counter() - t)

            async def batched() -> tuple[float, int]:
                tokens: list[int] = []

                async def one(q: str) -> None:
                    tokens.append(await ask(q))

                before = provider.generate_calls
                t = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for q in QUESTIONS:
                        tg.start_soon(one, q)
                dt = time.perf_counter() - t
                return sum(tokens) / dt, provider.generate_calls - before

            await ask(QUESTIONS[0])  # warm-up
            for r in range(repeats):
                if r % 2:
                    tps, n = await batched()
                    seq.append(await sequential())
                else:
                    seq.append(await sequential())
                    tps, n = await batched()
                bat.append(tps)
                calls.append(n)

    anyio.run(bench)
    s, b = median(seq), median(bat)
    ratio = b / s
    return Section(
        title=TITLE,
        method=(
            f"`{provider.model}` (float32, CPU; load {load:.1f} s), greedy, "
            f"max_tokens={max_tokens}, {len(QUESTIONS)} different questions, {repeats} "
            "interleaved runs, median tokens/s over the whole set, through `AsyncClient`."
        ),
        header=["mode", "median tok/s", "min", "max", "generate() calls"],
        rows=[
            [
                "one at a time",
                f"{s:.1f}",
                f"{min(seq):.1f}",
                f"{max(seq):.1f}",
                str(len(QUESTIONS)),
            ],
            [
                f"{len(QUESTIONS)} concurrent (micro-batched)",
                f"{b:.1f}",
                f"{min(bat):.1f}",
                f"{max(bat):.1f}",
                str(max(calls)),
            ],
        ],
        targets=[
            Target(
                "micro-batching tok/s, 8 concurrent / one at a time",
                ratio,
                ">= 5 x",
                ratio >= 5.0,
                f"{ratio:.2f} x",
            )
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    print(run(args.repeats, args.max_tokens).text())


if __name__ == "__main__":
    main()
