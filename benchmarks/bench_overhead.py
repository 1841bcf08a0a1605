"""Client overhead per call: our AsyncClient (two providers, retries on, no faults) vs raw
httpx.AsyncClient, against the same local server (in its own process), in one run.

    python benchmarks/bench_overhead.py [--calls 3000] [--concurrency 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, run_concurrently, server_process, timed  # noqa: E402

from deepseek_resilient import AsyncClient, OpenAICompatible, Retry  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello."}]


def bench_raw(base_url: str, calls: int, concurrency: int) -> None:
    async def main() -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        async with httpx.AsyncClient(limits=limits) as http:
            url = f"{base_url}/chat/completions"
            body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
            headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

            async def one() -> None:
                r = await http.post(url, content=body, headers=headers)
                r.raise_for_status()
                assert r.json()["choices"][0]["message"]["content"]

            await run_concurrently(calls, concurrency, one)

    anyio.run(main)


def bench_ours(base_url: str, calls: int, concurrency: int) -> None:
    async def main() -> None:
        providers = [
            OpenAICompatible(name="primary", base_url=base_url, model="m", api_key="sk-bench"),
            OpenAICompatible(name="backup", base_url=base_url, model="m", api_key="sk-bench"),
        ]
        async with AsyncClient(providers, retry=Retry(attempts=3)) as client:

            async def one() -> None:
                r = await client.chat.completions.create(messages=MESSAGES)
                assert r.choices[0].message.content

            await run_concurrently(calls, concurrency, one)

    anyio.run(main)


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"raw httpx": [], "AsyncClient": []}
    with server_process() as base_url:
        bench_raw(base_url, 200, args.concurrency)  # warm up both paths
        bench_ours(base_url, 200, args.concurrency)
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            results["raw httpx"].append(
                timed(lambda: bench_raw(base_url, args.calls, args.concurrency))
            )
            results["AsyncClient"].append(
                timed(lambda: bench_ours(base_url, args.calls, args.concurrency))
            )
    print(f"{args.calls} calls at concurrency {args.concurrency}, median of {args.repeats}")
    print(f"{'client':<14}{'CPU us/call':>14}{'wall us/call':>14}")
    cpu = {}
    for name, runs in results.items():
        cpu[name] = median([c for c, _ in runs]) / args.calls * 1e6
        wall = median([w for _, w in runs]) / args.calls * 1e6
        print(f"{name:<14}{cpu[name]:>14.1f}{wall:>14.1f}")
    ratio = cpu["AsyncClient"] / cpu["raw httpx"]
    print(f"ratio AsyncClient / raw httpx (CPU per call): {ratio:.3f}  (target <= 1.10)")
    return {"raw_cpu_us": cpu["raw httpx"], "ours_cpu_us": cpu["AsyncClient"], "ratio": ratio}


if __name__ == "__main__":
    main()
