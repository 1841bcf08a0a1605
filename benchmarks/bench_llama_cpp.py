"""llama.cpp (xllamacpp): our full ``AsyncClient`` vs the raw engine, and continuous batching.

    python -m benchmarks.bench_llama_cpp [--repeats 5] [--max-tokens 64]

4a. One request at a time, greedy (temperature 0), the embedded SmolLM2-135M GGUF: ours is
``AsyncClient([LlamaCpp()])`` with its default layers (retries, breaker, deadline; no cache,
so every call generates); raw is ``xllamacpp.Server.handle_chat_completions`` on a server
built the same way, with the same request body (our repeat penalty, no prompt cache).
Tokens/s = completion tokens / wall time of the call. Interleaved; medians.

4b. Continuous batching: 8 requests at once through the client vs the same 8 one after the
other (8 different prompts, greedy, ``ignore_eos`` so every answer is exactly max_tokens
long). Tokens/s = all completion tokens / wall time; the process CPU time per token is
reported too, since wall time on a shared machine depends on the other load, and so are the
engine's decode steps (a batched step decodes one token of every request in flight).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import Section, Target, median, skipped

PROMPT = "Write a short poem about the sea."
TITLE = "4a. llama.cpp (xllamacpp): our AsyncClient vs the raw engine"
TITLE_BATCH = "4b. llama.cpp (xllamacpp): 8 concurrent requests vs one at a time"
BATCH = 8
DECODES = "llamacpp:n_decode_total"
PROMPT_TOKENS, PROMPT_SECONDS = "llamacpp:prompt_tokens_total", "llamacpp:prompt_seconds_total"
#: A long prompt (about 300 tokens) whose evaluation is one big batch: the engine's best rate.
LONG_PROMPT = " ".join(f"Line {i}: the tide comes in and goes out." for i in range(30))


def engine_installed() -> None:
    """Raise ImportError when xllamacpp is missing, without importing it: its import loads the
    OpenMP runtime, which reads its environment once, so an early import would measure
    spinning threads instead of the passive policy the provider sets before loading."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise ImportError("No module named 'xllamacpp'")


def _raw_server(path: Path, provider: Any) -> Any:
    """The engine built as the provider builds it, threads included (one generates)."""
    import os

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_parallel = provider.parallel
    params.n_ctx = provider.n_ctx * provider.parallel
    params.kv_unified = False
    params.verbosity = -1
    generate, batch = provider._threads(path, os.environ)
    if generate is not None:
        params.cpuparams.n_threads = generate
    if batch is not None:
        params.cpuparams_batch.n_threads = batch
    return xllamacpp.Server(params)


def run(repeats: int, max_tokens: int) -> Section:
    try:
        engine_installed()

        from deepseek_resilient import AsyncClient, LlamaCpp
        from deepseek_resilient._providers.local.embedded import embedded_model_path

        path = embedded_model_path()
    except Exception as exc:  # not installed: say so in the report
        return skipped(TITLE, f"xllamacpp or the embedded model is missing ({exc})")

    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    raw_tps: list[float] = []
    ours_tps: list[float] = []

    async def bench() -> None:
        local = LlamaCpp(path, engine="xllamacpp", warm=True)
        raw = _raw_server(path, local)
        body = {"messages": messages, "temperature": 0, "max_tokens": max_tokens,
                "repeat_penalty": local.repeat_penalty, "cache_prompt": False}  # fmt: skip

        def run_raw() -> float:
            t0 = time.perf_counter()
            out: Any = raw.handle_chat_completions(body)
            return float(out["usage"]["completion_tokens"]) / (time.perf_counter() - t0)

        async with AsyncClient([local], timeout=300) as client:

            async def run_ours() -> float:
                t0 = time.perf_counter()
                resp = await client.chat.completions.create(
                    messages=messages, temperature=0, max_tokens=max_tokens
                )
                assert resp.usage is not None and resp.route.provider == "local"
                return resp.usage.completion_tokens / (time.perf_counter() - t0)

            await run_ours()  # warm-up both
            await anyio.to_thread.run_sync(run_raw)
            for r in range(repeats):  # interleaved, alternating who goes first
                if r % 2:
                    raw_tps.append(await anyio.to_thread.run_sync(run_raw))
                    ours_tps.append(await run_ours())
                else:
                    ours_tps.append(await run_ours())
                    raw_tps.append(await anyio.to_thread.run_sync(run_raw))

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
                "raw `xllamacpp.Server.handle_chat_completions`",
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
            Target("llama.cpp tok/s, ours / raw", ratio, ">= 0.97", ratio >= 0.97, f"{ratio:.3f} x")
        ],
    )


def run_batched(rounds: int, max_tokens: int) -> Section:
    try:
        engine_installed()

        from deepseek_resilient import AsyncClient, LlamaCpp
    except Exception as exc:
        return skipped(TITLE_BATCH, f"xllamacpp is missing ({exc})")
    rows: list[list[str]] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    steps: dict[bool, float] = {}
    sequential_tps: list[float] = []
    prompt_tps: list[float] = []

    async def bench() -> None:
        local = LlamaCpp(parallel=BATCH, warm=True)
        async with AsyncClient([local], timeout=600) as client:

            async def one(i: int, tokens: list[int]) -> None:
                resp = await client.chat.completions.create(
                    messages=[{"role": "user", "content": f"Write a long story about {i}."}],
                    max_tokens=max_tokens, temperature=0, cache=False,
                    extra_body={"ignore_eos": True},
                )  # fmt: skip
                assert resp.usage is not None
                tokens.append(resp.usage.completion_tokens)

            async def measure(together: bool) -> tuple[float, float]:
                tokens: list[int] = []
                d0 = local.metrics()[DECODES]
                t0, c0 = time.perf_counter(), time.process_time()
                if together:
                    async with anyio.create_task_group() as tg:
                        for i in range(BATCH):
                            tg.start_soon(one, i, tokens)
                else:
                    for i in range(BATCH):
                        await one(i, tokens)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                steps[together] = local.metrics()[DECODES] - d0
                return sum(tokens) / wall, cpu / sum(tokens)

            async def prompt_rate() -> float:
                """Tokens/s of one long prompt's evaluation (the engine's own timing)."""
                m0 = local.metrics()
                await client.chat.completions.create(
                    messages=[{"role": "user", "content": LONG_PROMPT}], max_tokens=1,
                    temperature=0, cache=False,
                )  # fmt: skip
                m1 = local.metrics()
                tokens = m1[PROMPT_TOKENS] - m0[PROMPT_TOKENS]
                return float(tokens / (m1[PROMPT_SECONDS] - m0[PROMPT_SECONDS]))

            await measure(True)  # warm-up
            for r in range(rounds):
                prompt_tps.append(await prompt_rate())
                order = [False, True] if r % 2 else [True, False]
                got = {together: await measure(together) for together in order}
                (seq_tps, seq_cpu), (bat_tps, bat_cpu) = got[False], got[True]
                ratios.append(bat_tps / seq_tps)
                sequential_tps.append(seq_tps)
                cpu_ratios.append(seq_cpu / bat_cpu)
                gain, cpu_gain = bat_tps / seq_tps, seq_cpu / bat_cpu
                cpu_ms = f"{seq_cpu * 1000:.1f} / {bat_cpu * 1000:.1f}"
                decodes = f"{steps[False]:.0f} / {steps[True]:.0f}"
                rows.append([str(r + 1), f"{seq_tps:.1f}", f"{bat_tps:.1f}", f"{gain:.2f} x",
                             cpu_ms, f"{cpu_gain:.2f} x", decodes])  # fmt: skip

    anyio.run(bench)
    ratio, cpu = median(ratios), median(cpu_ratios)
    ceiling = median(prompt_tps) / median(sequential_tps)
    return Section(
        title=TITLE_BATCH,
        method=(
            f"{BATCH} different prompts, max_tokens={max_tokens}, greedy, `ignore_eos` (every "
            f"answer {max_tokens} tokens), through `AsyncClient([LlamaCpp(parallel={BATCH})])`: "
            f"all at once vs one after the other; {rounds} interleaved rounds. Tokens/s = "
            "completion tokens / wall time; CPU = process CPU ms per token (one at a time / "
            "batched), CPU gain their ratio; decode steps = the engine's "
            "`llamacpp:n_decode_total` (one at a time / batched). Ceiling: the engine's own "
            "rate for evaluating one ~300-token prompt (one big batch, its most efficient "
            f"work: {median(prompt_tps):.0f} tok/s, median of {rounds}) over the one-at-a-time "
            "rate: a batch of 8 decoded tokens cannot beat it."
        ),
        header=[
            "round",
            "one at a time tok/s",
            "8 at once tok/s",
            "wall gain",
            "CPU ms/token",
            "CPU gain",
            "decode steps",
        ],
        rows=rows,
        targets=[
            Target("batched / sequential tok/s", ratio, ">= 4", ratio >= 4, f"{ratio:.2f} x"),
            Target("CPU per token, sequential / batched", cpu, "(no target)", None, f"{cpu:.2f} x"),
            Target(
                "ceiling: prompt evaluation / one-at-a-time tok/s",
                ceiling,
                "(no target)",
                None,
                f"{ceiling:.2f} x",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print(run(args.repeats, args.max_tokens).text())
    print(run_batched(args.rounds, args.max_tokens).text())


if __name__ == "__main__":
    main()
