"""Batch jobs: ``python -m benchmarks.bench_batch [--requests 10000] [--rate 200]``.

Against the benchmark server (its own process, loopback):

1. **Rate.** ``--requests`` lines through ``deepseek_resilient.batch`` with one provider
   limited to ``RateLimit(requests_per_second=--rate)``: the achieved rate over the whole
   run against the limit (target: at least 95 %). Then the same client code with no limit
   (up to 3,000 lines), to show what this machine can do at that moment: when it can't do
   much more than the limit (a loaded machine), the shortfall is CPU, not the limiter.
   The limiter's bucket starts full (one second's budget), so the rate is also given
   without that first burst. While the batch
   runs, one interactive caller (priority normal) asks every second on the same client: its
   latency, against the same caller alone, shows the batch's "low" priority at work.
2. **Memory.** Peak RSS of a fresh interpreter running a batch of ``--memory-lines`` lines
   (no rate limit), against the same with a tenth of the lines: bounded memory means the two
   peaks are about equal.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio

from benchmarks._common import ROOT, child_env, server_process
from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    DeepSeekResilientError,
    OpenAICompatible,
    RateLimit,
    Retry,
    batch,
)


def write_requests(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            body = {"messages": [{"role": "user", "content": f"ticket {i}"}], "temperature": 0.7}
            line = {"custom_id": f"t{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body}) + "\n")
    return path


def provider(base_url: str, rate: float | None) -> OpenAICompatible:
    limit = RateLimit(requests_per_second=rate) if rate else None
    return OpenAICompatible(
        name="bench", base_url=base_url, model="ok", api_key="sk-bench", rate_limit=limit
    )


ERRORS: dict[str, int] = {}
CONCURRENCY = [64]


async def interactive(client: AsyncClient, stop: anyio.Event, out: list[float]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        began = time.perf_counter()
        try:
            await client.chat.completions.create(
                messages=[{"role": "user", "content": f"interactive {n}"}], temperature=0.7
            )
        except DeepSeekResilientError as exc:
            detail = exc.errors[-1] if isinstance(exc, AllProvidersFailed) and exc.errors else exc
            key = f"{type(detail).__name__}: {detail}"[:120]
            ERRORS[key] = ERRORS.get(key, 0) + 1
        out.append(time.perf_counter() - began)
        await anyio.sleep(1.0)


async def rate_run(base_url: str, requests: int, rate: float, tmp: Path) -> dict[str, Any]:
    source = write_requests(tmp / "rate.jsonl", requests)
    latencies: list[float] = []
    alone: list[float] = []
    async with AsyncClient([provider(base_url, rate)], retry=Retry(attempts=3)) as client:
        stop = anyio.Event()
        with anyio.move_on_after(3):
            await interactive(client, stop, alone)
        marks: list[tuple[float, int]] = []

        def progress(p: Any) -> None:
            marks.append((p.elapsed, p.done + p.failed))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(interactive, client, stop, latencies)
            summary = await batch(
                source,
                tmp / "rate.out.jsonl",
                client=client,
                on_progress=progress,
                progress_interval=1.0,
                concurrency=64,
            )
            stop.set()
    first = next((m for m in marks if m[0] >= 1.0), None)
    steady = None
    if first is not None and summary.elapsed > first[0]:
        steady = (summary.done + summary.failed - first[1]) / (summary.elapsed - first[0])
    unlimited_source = write_requests(tmp / "free.jsonl", min(requests, 3000))
    cpu = _cpu()
    async with AsyncClient([provider(base_url, None)]) as client:
        free = await batch(unlimited_source, tmp / "free.out.jsonl", client=client)
    return {
        "requests": requests,
        "limit": rate,
        "concurrency": CONCURRENCY[0],
        "unlimited_rate_same_machine": free.requests_per_second,
        "unlimited_cpu_per_request_ms": (_cpu() - cpu) / (free.done + free.failed) * 1000,
        "elapsed": summary.elapsed,
        "achieved": summary.requests_per_second,
        "fill": summary.requests_per_second / rate,
        "fill_with_interactive": (summary.done + summary.failed + len(latencies))
        / summary.elapsed
        / rate,
        "achieved_after_first_second": steady,
        "failed": summary.failed,
        "batch_errors": summary.errors,
        "interactive_errors": ERRORS,
        "interactive_p50_ms_alone": statistics.median(alone) * 1000,
        "interactive_p50_ms_during_batch": statistics.median(latencies) * 1000,
        "interactive_max_ms_during_batch": max(latencies) * 1000,
        "interactive_calls_during_batch": len(latencies),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def memory_child(base_url: str, lines: int, tmp: Path) -> dict[str, Any]:
    source = write_requests(tmp / f"mem{lines}.jsonl", lines)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with AsyncClient([provider(base_url, None)]) as client:
        summary = await batch(source, tmp / f"mem{lines}.out.jsonl", client=client)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "lines": lines,
        "peak_rss_mb": peak / 1024,
        "rss_before_mb": before / 1024,
        "elapsed": summary.elapsed,
        "rate": summary.requests_per_second,
        "failed": summary.failed,
        "output_mb": (tmp / f"mem{lines}.out.jsonl").stat().st_size / 1e6,
    }


def memory_run(base_url: str, lines: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_batch",
            "--child-memory",
            str(lines),
            "--base-url",
            base_url,
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_batch")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--memory-lines", type=int, default=100_000)
    parser.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64, help="the batch's window")
    args = parser.parse_args()
    CONCURRENCY[0] = args.concurrency
    with TemporaryDirectory() as tmp:
        if args.child_memory:
            print(json.dumps(anyio.run(memory_child, args.base_url, args.child_memory, Path(tmp))))
            return
        with server_process() as server:
            rate = anyio.run(rate_run, server.base_url, args.requests, args.rate, Path(tmp))
            print(json.dumps({"rate": rate}, indent=2), flush=True)
            if not args.skip_memory:
                small = memory_run(server.base_url, args.memory_lines // 10)
                large = memory_run(server.base_url, args.memory_lines)
                print(json.dumps({"memory": [small, large]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
