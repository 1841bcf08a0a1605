"""What the resilience layers cost and deliver, against the local server in its own process.

    python -m benchmarks.bench_resilience [--calls 3000] [--repeats 3]

* cache hit vs a raw call: CPU per call of our cache hits vs raw ``httpx2`` calls (both run
  by ``bench_overhead``'s workers: fresh interpreter, interleaved, medians);
* merging: 100 identical concurrent requests to a 0.25 s upstream -> upstream calls counted
  by the server (and the same 100 with merging off);
* failover: the primary's breaker open (it answered 503 until it tripped) vs a client whose
  only provider is that fallback; sequential calls, wall time per call, interleaved batches;
* stalled primary: the primary sends a blank line every 0.5 s and never answers; time until
  the fallback's answer, and until ``DeadlineExceeded`` when there is no fallback, vs the
  configured deadline.
"""

from __future__ import annotations

import argparse
import gc
import sys
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import (
    BenchServer,
    Section,
    Stopwatch,
    Target,
    fmt_us,
    median,
    server_process,
)

MERGE_N = 100
STALL_DEADLINE = 2.0


def _provider(base_url: str, name: str, model: str, **options: Any) -> Any:
    from deepseek_resilient import OpenAICompatible

    return OpenAICompatible(
        name=name, base_url=base_url, model=model, api_key="sk-bench", **options
    )


# ----------------------------------------------------------------------------- cache hit


def cache_hit_section(overhead: dict[str, list[tuple[float, float]]], calls: int) -> Section:
    """From the overhead runs: our cache hits vs raw httpx2 calls."""
    raw_cpu = median([c for c, _ in overhead["raw-httpx2"]]) / calls
    hit_cpu = median([c for c, _ in overhead["ours-hit"]]) / calls
    raw_wall = median([w for _, w in overhead["raw-httpx2"]]) / calls
    hit_wall = median([w for _, w in overhead["ours-hit"]]) / calls
    ratio = hit_cpu / raw_cpu
    return Section(
        title="3a. Cache hit vs a raw call",
        method=(
            f"{calls:,} calls at concurrency 32 (runs of section 1): our AsyncClient answering "
            "one stored request from its disk cache vs raw httpx2 calls to the local server."
        ),
        header=["call", "CPU us/call", "wall us/call"],
        rows=[
            ["raw httpx2 call", fmt_us(raw_cpu), fmt_us(raw_wall)],
            ["AsyncClient cache hit", fmt_us(hit_cpu), fmt_us(hit_wall)],
        ],
        targets=[
            Target(
                "cache hit CPU / raw call CPU", ratio, "<= 0.15", ratio <= 0.15, f"{ratio:.3f} x"
            )
        ],
    )


# ----------------------------------------------------------------------------- merging


async def _merge_once(server: BenchServer, coalesce: bool) -> tuple[int, int, float]:
    """100 identical concurrent requests; (upstream calls, merged answers, seconds)."""
    from deepseek_resilient import AsyncClient

    messages = [{"role": "user", "content": f"Same question {uuid.uuid4().hex}"}]
    merged = 0
    before = server.counts().get("slow", 0)
    async with AsyncClient(
        [_provider(server.base_url, "slow", "slow")], coalesce=coalesce
    ) as client:

        async def one() -> None:
            nonlocal merged
            r = await client.chat.completions.create(messages=messages, temperature=0)
            merged += r.route.coalesced

        with Stopwatch() as sw:
            async with anyio.create_task_group() as tg:
                for _ in range(MERGE_N):
                    tg.start_soon(one)
    return server.counts().get("slow", 0) - before, merged, sw.wall


def merge_section(server: BenchServer, repeats: int) -> Section:
    on: list[tuple[int, int, float]] = []
    off: list[tuple[int, int, float]] = []
    for _ in range(repeats):
        on.append(anyio.run(_merge_once, server, True))
        off.append(anyio.run(_merge_once, server, False))
    upstream = int(median([float(u) for u, _, _ in on]))
    rows = [
        [
            label,
            f"{MERGE_N}",
            ", ".join(str(u) for u, _, _ in runs),
            f"{median([float(m) for _, m, _ in runs]):.0f}",
            f"{median([t for _, _, t in runs]):.2f}",
        ]
        for label, runs in (("merging on (default)", on), ("merging off", off))
    ]
    return Section(
        title="3b. Merging identical in-flight requests",
        method=(
            f"{MERGE_N} identical concurrent requests (temperature 0, no cache) to an upstream "
            f"that answers after 0.25 s; upstream calls counted by the server; {repeats} runs."
        ),
        header=[
            "client",
            "requests",
            "upstream calls (per run)",
            "answers marked coalesced",
            "wall s",
        ],
        rows=rows,
        targets=[
            Target(
                f"upstream calls for {MERGE_N} identical requests",
                upstream,
                "1",
                upstream == 1,
                f"{MERGE_N} -> {upstream}",
            )
        ],
    )


# ----------------------------------------------------------------------------- failover


async def _failover(server: BenchServer, calls: int, repeats: int) -> dict[str, Any]:
    from deepseek_resilient import AsyncClient, CircuitBreaker, Retry

    url = server.base_url
    breaker = CircuitBreaker(min_calls=5, open_for=3600.0, max_open_for=3600.0)
    primary = _provider(url, "primary", "down", retry=Retry(attempts=1))
    options: dict[str, Any] = {"breaker": breaker, "coalesce": False}
    via = AsyncClient([primary, _provider(url, "fallback", "ok")], **options)
    direct = AsyncClient([_provider(url, "fallback", "ok")], **options)
    tag = uuid.uuid4().hex[:8]
    out: dict[str, Any] = {"via": [], "direct": [], "via_cpu": [], "direct_cpu": []}
    async with via, direct:
        for i in range(10):  # the primary answers 503 until its breaker opens
            r = await via.chat.completions.create(messages=[{"role": "user", "content": f"{i}"}])
            assert r.route.provider == "fallback"
        out["state"] = via.health()["primary"].state
        for i in range(20):  # warm both paths
            await direct.chat.completions.create(messages=[{"role": "user", "content": f"{i}"}])
        for r in range(repeats):
            for name, client in (("via", via), ("direct", direct))[:: 1 if r % 2 else -1]:
                gc.collect()  # each batch starts from the same collector state
                with Stopwatch() as sw:
                    for i in range(calls):
                        msg = [{"role": "user", "content": f"{tag} {r} {i}"}]
                        resp = await client.chat.completions.create(messages=msg)
                        assert resp.route.provider == "fallback"
                out[name].append(sw.wall / calls)
                out[name + "_cpu"].append(sw.cpu / calls)
        last = await via.chat.completions.create(messages=[{"role": "user", "content": "x"}])
        out["route"] = last.route.summary()
    return out


def failover_section(server: BenchServer, calls: int, repeats: int) -> Section:
    out = anyio.run(_failover, server, calls, repeats)
    via, direct = median(out["via"]), median(out["direct"])
    via_cpu, direct_cpu = median(out["via_cpu"]), median(out["direct_cpu"])
    ratio = via / direct
    return Section(
        title="3c. Failover with the primary's breaker open",
        method=(
            f"{calls} sequential calls per batch, {repeats} interleaved batches (a full garbage "
            "collection before each), medians. The "
            "primary answered HTTP 503 until its breaker opened (state after warm-up: "
            f"`{out['state']}`); the fallback is the same local server. Route of a call: "
            f'"{out["route"]}".'
        ),
        header=["client", "wall us/call", "CPU us/call"],
        rows=[
            ["fallback direct (its only provider)", fmt_us(direct), fmt_us(direct_cpu)],
            ["primary (breaker open) -> fallback", fmt_us(via), fmt_us(via_cpu)],
        ],
        targets=[
            Target(
                "failover (breaker open) / direct call to the fallback, wall",
                ratio,
                "<= 1.05",
                ratio <= 1.05,
                f"{ratio:.3f} x",
            )
        ],
    )


# ----------------------------------------------------------------------------- stall


async def _stall_once(server: BenchServer, fallback: bool) -> tuple[float, str]:
    from deepseek_resilient import AsyncClient, DeadlineExceeded

    url = server.base_url
    providers = [_provider(url, "primary", "stall")]
    if fallback:
        providers.append(_provider(url, "fallback", "ok"))
    msg = [{"role": "user", "content": uuid.uuid4().hex}]
    async with AsyncClient(providers, timeout=STALL_DEADLINE) as client:
        with Stopwatch() as sw:
            try:
                r = await client.chat.completions.create(messages=msg)
                outcome = f"answered by {r.route.provider}"
            except DeadlineExceeded:
                outcome = "DeadlineExceeded"
    return sw.wall, outcome


def stall_section(server: BenchServer, repeats: int) -> Section:
    runs: dict[bool, list[tuple[float, str]]] = {True: [], False: []}
    for _ in range(repeats):
        for fallback in (True, False):
            runs[fallback].append(anyio.run(_stall_once, server, fallback))
    rows, targets = [], []
    for fallback, label in ((True, "stalled primary -> fallback"), (False, "stalled primary only")):
        times = [t for t, _ in runs[fallback]]
        outcomes = sorted({o for _, o in runs[fallback]})
        rows.append(
            [
                label,
                f"{STALL_DEADLINE:g}",
                f"{median(times):.3f}",
                f"{max(times):.3f}",
                ", ".join(outcomes),
            ]
        )
        worst = max(times)
        ok = worst <= STALL_DEADLINE + 0.1 and (
            not fallback or outcomes == ["answered by fallback"]
        )
        targets.append(
            Target(
                f"{label}: slowest time to outcome",
                worst,
                f"<= deadline + 0.1 s = {STALL_DEADLINE + 0.1:g} s",
                ok,
                f"{worst:.3f} s",
            )
        )
    return Section(
        title="3d. Stalled primary (a blank line every 0.5 s) vs the deadline",
        method=(
            f"`timeout={STALL_DEADLINE:g}` (one deadline per request); the primary answers 200 "
            "and then only sends a blank line every 0.5 s, which never trips an httpx read "
            f"timeout. {repeats} runs each; the primary leaves 25 % of the time left to the "
            "fallback (`failover_reserve`)."
        ),
        header=["case", "deadline s", "median s", "max s", "outcome"],
        rows=rows,
        targets=targets,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from benchmarks import bench_overhead

    with server_process() as server:
        print(merge_section(server, args.repeats).text())
        print(failover_section(server, 200, args.repeats).text())
        print(stall_section(server, args.repeats).text())
        runs: dict[str, list[tuple[float, float]]] = {"raw-httpx2": [], "ours-hit": []}
        for _ in range(args.repeats):
            for key in runs:
                out = bench_overhead.run_json(
                    [
                        "-m",
                        "benchmarks.bench_overhead",
                        "--worker",
                        key,
                        "--base-url",
                        server.base_url,
                        "--calls",
                        str(args.calls),
                    ]
                )
                runs[key].append((out["cpu"], out["wall"]))
        print(cache_hit_section(runs, args.calls).text())


if __name__ == "__main__":
    main()
