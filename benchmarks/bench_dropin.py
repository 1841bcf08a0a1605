"""The drop-in's CPU per call against genuine openai-python: the same server (in its own
process), the same concurrency, each client in a fresh interpreter, repeats interleaved.

    python -m benchmarks.bench_dropin [--calls 3000] [--concurrency 32] [--repeats 3]

Rows: ``openai.AsyncOpenAI`` (the control), our ``AsyncOpenAI`` over the same endpoint
(``local=False``: the endpoint alone, retries and breaker on), and our ``AsyncOpenAI`` with one
fallback provider (``providers=[...]``: the endpoint is then asked for a stream, so that the
first-token limit applies). Every request is unique (a per-call message). The target is a
ratio of at most 1.15 for the endpoint-alone row.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import Section, Target, fmt_us, median, run_json, server_process
from benchmarks.bench_overhead import Timed, _measure, _messages

CONTROL = "openai"
TARGET = 1.15


def _client(kind: str, base_url: str) -> Any:
    if kind == CONTROL:
        import openai

        return openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=2)
    from deepseek_resilient import AsyncOpenAI, OpenAICompatible

    providers = []
    if kind == "dropin-fallback":
        providers = [OpenAICompatible(name="backup", base_url=base_url, model="ok")]
    return AsyncOpenAI(base_url=base_url, api_key="sk-bench", local=False, providers=providers)


async def run(kind: str, base_url: str, calls: int, concurrency: int) -> Timed:
    tag = uuid.uuid4().hex[:8]
    async with _client(kind, base_url) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(model="ok", messages=_messages(tag, i))
            assert r.choices[0].message.content

        return await _measure(calls, concurrency, one)


KINDS = {
    CONTROL: "openai AsyncOpenAI (control)",
    "dropin": "deepseek_resilient.AsyncOpenAI, the endpoint alone",
    "dropin-fallback": "deepseek_resilient.AsyncOpenAI, + one fallback provider",
}


def measure(base_url: str, calls: int, concurrency: int, repeats: int) -> dict[str, list[Timed]]:
    keys = list(KINDS)
    results: dict[str, list[Timed]] = {k: [] for k in keys}
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            args = ["-m", "benchmarks.bench_dropin", "--worker", key, "--base-url", base_url]
            args += ["--calls", str(calls), "--concurrency", str(concurrency)]
            out = run_json(args)
            results[key].append((out["cpu"], out["wall"]))
            print(f"  drop-in {r + 1}/{repeats} {key:<16} cpu "
                  f"{out['cpu'] / calls * 1e6:7.0f} us per call", flush=True)  # fmt: skip
    return results


def report(results: dict[str, list[Timed]], calls: int) -> list[str]:
    base = median([c for c, _ in results[CONTROL]]) / calls
    lines = [f"{'client':<58} {'CPU/call':>10} {'ratio':>6}"]
    for key, label in KINDS.items():
        cpu = median([c for c, _ in results[key]]) / calls
        lines.append(f"{label:<58} {cpu * 1e6:>8.0f} us {cpu / base:>6.2f}")
    return lines


def section(results: dict[str, list[Timed]], calls: int, concurrency: int, repeats: int) -> Section:
    """The drop-in against genuine openai-python, for the suite (``python -m benchmarks``)."""
    cpu = {k: median([c for c, _ in v]) / calls for k, v in results.items()}
    base = cpu[CONTROL]
    rows = [[KINDS[k], fmt_us(cpu[k]), f"{cpu[k] / base:.2f} x"] for k in KINDS]
    ratio = cpu["dropin"] / base
    return Section(
        title="1b. The openai drop-in",
        method=(
            f"{calls:,} calls at concurrency {concurrency} against the local server, median of "
            f"{repeats} runs, each in a fresh interpreter; CPU of the client process per call."
        ),
        header=["client", "CPU us/call", "vs openai"],
        rows=rows,
        targets=[
            Target(
                "deepseek_resilient.AsyncOpenAI CPU / openai.AsyncOpenAI CPU",
                ratio,
                "<= 1.15",
                ratio <= 1.15,
                f"{ratio:.2f} x",
            )
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=list(KINDS))
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.worker:
        cpu, wall = anyio.run(run, args.worker, args.base_url, args.calls, args.concurrency)
        print(json.dumps({"cpu": cpu, "wall": wall}))
        return
    with server_process() as server:
        results = measure(server.base_url, args.calls, args.concurrency, args.repeats)
    print("\n".join(report(results, args.calls)))


if __name__ == "__main__":
    main()
