"""llama.cpp through our full ``AsyncClient`` vs raw llama-cpp-python, same model, one run.

    python -m benchmarks.bench_llama_cpp [--repeats 5] [--max-tokens 64]

Both sides generate greedily (temperature 0) from the embedded SmolLM2-135M GGUF, one
request at a time; tokens/s = completion tokens / wall time of the whole call. Ours is
``AsyncClient([LlamaCpp()])`` with its default layers (retries, breaker, deadline; no cache,
so every call generates). Both start every request from an empty context (the provider's
default; ``Llama.reset()`` for raw), so they do the same work. Interleaved; medians.
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

PROMPT = "Write a short poem about the sea."
TITLE = "4a. llama.cpp: our AsyncClient vs raw llama-cpp-python"


def run(repeats: int, max_tokens: int) -> Section:
    try:
        from llama_cpp import Llama

        from deepseek_resilient import AsyncClient, LlamaCpp
        from deepseek_resilient._providers.local.embedded import embedded_model_path

        path = embedded_model_path()
    except Exception as exc:  # not installed: say so in the report
        return skipped(TITLE, f"llama-cpp-python or the embedded model is missing ({exc})")

    raw: Any = Llama(model_path=str(path), n_ctx=2048, verbose=False)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    raw_tps: list[float] = []
    ours_tps: list[float] = []

    def run_raw() -> float:
        t0 = time.perf_counter()
        raw.reset()
        out: Any = raw.create_chat_completion(
            messages=messages, temperature=0, max_tokens=max_tokens
        )
        return float(out["usage"]["completion_tokens"]) / (time.perf_counter() - t0)

    async def bench() -> None:
        async with AsyncClient([LlamaCpp(path, n_ctx=2048, warm=True)], timeout=300) as client:

            async def run_ours() -> float:
                t0 = time.perf_counter()
                resp = await client.chat.completions.create(
                    messages=messages, temperature=0, max_tokens=max_tokens
                )
                assert resp.usage is not None and resp.route.provider == "local"
                return resp.usage.completion_tokens / (time.perf_counter() - t0)

            await run_ours()  # warm-up both
            run_raw()
            for r in range(repeats):  # interleaved, alternating who goes first
                if r % 2:
                    raw_tps.append(run_raw())
                    ours_tps.append(await run_ours())
                else:
                    ours_tps.append(await run_ours())
                    raw_tps.append(run_raw())

    anyio.run(bench)
    raw_med, ours_med = median(raw_tps), median(ours_tps)
    ratio = ours_med / raw_med
    return Section(
        title=TITLE,
        method=(
            f"`{path.name}`, greedy, max_tokens={max_tokens}, one request at a time, "
            f"{repeats} interleaved runs each, median tokens/s (completion tokens / wall time "
            "of the call)."
        ),
        header=["side", "median tok/s", "min", "max"],
        rows=[
            [
                "raw `Llama.create_chat_completion`",
                f"{raw_med:.1f}",
                f"{min(raw_tps):.1f}",
                f"{max(raw_tps):.1f}",
            ],
            [
                "`AsyncClient([LlamaCpp()])`",
                f"{ours_med:.1f}",
                f"{min(ours_tps):.1f}",
                f"{max(ours_tps):.1f}",
            ],
        ],
        targets=[
            Target("llama.cpp tok/s, ours / raw", ratio, ">= 0.95", ratio >= 0.95, f"{ratio:.3f} x")
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print(run(args.repeats, args.max_tokens).text())


if __name__ == "__main__":
    main()
