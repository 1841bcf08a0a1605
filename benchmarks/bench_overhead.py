"""Per-call client overhead against the same local server (in its own process), in one run.

    python -m benchmarks.bench_overhead [--calls 3000] [--concurrency 32] [--repeats 3]

Each client runs in a fresh interpreter per repeat (no shared heap, no background threads of
one peer billed to the next), clients interleaved and rotated each repeat so background load
hits all alike. A run: build the client, 64 warm-up calls, then ``--calls`` calls at
``--concurrency`` in flight, timed as process CPU (all threads of the client process; the
server is another process) and wall time. Every request is unique (``temperature=0`` and a
per-call message), so our cache always misses and stores, and nothing can be merged.

Clients: raw ``httpx2.AsyncClient`` (the baseline: our transport); raw httpx2 asking for a
stream and reading it to the end (what our client sends upstream for a completion while
another provider remains: the like-for-like floor); raw ``httpx.AsyncClient``
(httpx 0.28, when installed); our ``AsyncClient`` with all layers on (two providers,
retries, breaker, a rate limit far above the load, merging, disk cache missing); at its
defaults with the same two providers, and with one provider (no fallback: a completion goes
upstream unstreamed); our sync ``Client`` from 8 threads; openai-python's ``AsyncOpenAI``;
LiteLLM's ``Router`` with a fallback and 2 retries (those two when installed); and our cache
*hits* (one request, stored once, asked again and again), which section 3 sets against the
raw call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import (
    Section,
    Stopwatch,
    Target,
    fmt_us,
    installed,
    median,
    run_concurrently,
    run_json,
    server_process,
)

BASELINE = "raw-httpx2"
"""The row every ratio is taken against: raw httpx2, the transport our providers use."""
WARMUP = 64
THREADS = 8
URL_PATH = "/chat/completions"


def _messages(tag: str, i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Say hello. ({tag}-{i})"}]


# ----------------------------------------------------------------------------- clients
# Each ``run_*`` builds its client, warms it, times ``calls`` calls and returns (cpu, wall).

Timed = tuple[float, float]


async def _measure(calls: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> Timed:
    await run_concurrently(WARMUP, concurrency, lambda i: one(-1 - i))
    with Stopwatch() as sw:
        await run_concurrently(calls, concurrency, one)
    return sw.cpu, sw.wall


def _raw_client(module: Any) -> Any:
    """An ``AsyncClient`` of httpx or httpx2 with our providers' pool limits and headers."""
    limits = module.Limits(max_connections=100, max_keepalive_connections=20)
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    return module.AsyncClient(limits=limits, headers=headers, timeout=60.0)


async def run_raw_httpx2(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """The baseline: raw httpx2 (the transport our providers use), the same pool limits."""
    import httpx2

    async with _raw_client(httpx2) as http:
        return await _raw_calls(http, base_url, calls, concurrency)


async def run_raw_httpx2_sse(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """Raw httpx2 asking for a stream and reading it to the end (``aiter_lines``, one
    ``json.loads`` per event): what our client does upstream for a completion while another
    provider remains (for the first-token and idle limits). The like-for-like floor."""
    import httpx2

    tag = uuid.uuid4().hex[:8]
    url = base_url + URL_PATH
    async with _raw_client(httpx2) as http:

        async def one(i: int) -> None:
            body = {"model": "ok", "messages": _messages(tag, i), "temperature": 0, "stream": True}
            text = []
            async with http.stream("POST", url, content=json.dumps(body).encode()) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        for choice in json.loads(line[6:])["choices"]:
                            text.append(choice["delta"].get("content") or "")
            assert "".join(text)

        return await _measure(calls, concurrency, one)


async def run_raw_transport(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """The true floor: httpx2's pooled transport called directly, as our sender does (no
    ``AsyncClient.send`` machinery: no auth flow, redirects, cookies or event hooks)."""
    return await _transport_calls(base_url, calls, concurrency, stream=False)


async def run_raw_transport_sse(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """The true floor for what our client sends upstream while another provider remains:
    httpx2's transport called directly, the answer asked for as a stream and read to its
    end (one ``json.loads`` per event)."""
    return await _transport_calls(base_url, calls, concurrency, stream=True)


async def _transport_calls(base_url: str, calls: int, concurrency: int, *, stream: bool) -> Timed:
    import httpx2

    tag = uuid.uuid4().hex[:8]
    url = httpx2.URL(base_url + URL_PATH)
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
    async with httpx2.AsyncHTTPTransport(limits=limits) as transport:

        async def one(i: int) -> None:
            body = {"model": "ok", "messages": _messages(tag, i), "temperature": 0}
            if stream:
                body["stream"] = True
            request = httpx2.Request("POST", url, headers=headers, content=json.dumps(body))
            request.extensions["timeout"] = {
                "connect": 60.0,
                "read": 60.0,
                "write": 60.0,
                "pool": 60.0,
            }
            response = await transport.handle_async_request(request)
            try:
                assert response.status_code == 200
                if not stream:
                    data = json.loads(await response.aread())
                    assert data["choices"][0]["message"]["content"]
                    return
                text = []
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        for choice in json.loads(line[6:])["choices"]:
                            text.append(choice["delta"].get("content") or "")
                assert "".join(text)
            finally:
                await response.aclose()

        return await _measure(calls, concurrency, one)


async def run_raw_httpx(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """Raw httpx 0.28 (no release since December 2024), kept as a row for comparison."""
    import httpx

    async with _raw_client(httpx) as http:
        return await _raw_calls(http, base_url, calls, concurrency)


async def _raw_calls(http: Any, base_url: str, calls: int, concurrency: int) -> Timed:
    """POST a unique request, check the status, parse the JSON: the least any client does."""
    tag = uuid.uuid4().hex[:8]
    url = base_url + URL_PATH

    async def one(i: int) -> None:
        body = {"model": "ok", "messages": _messages(tag, i), "temperature": 0}
        r = await http.post(url, content=json.dumps(body).encode())
        r.raise_for_status()
        assert r.json()["choices"][0]["message"]["content"]

    return await _measure(calls, concurrency, one)


def _our_options(base_url: str, tmp: Path) -> tuple[list[Any], dict[str, Any]]:
    from deepseek_resilient import (
        Cache,
        CircuitBreaker,
        OpenAICompatible,
        RateLimit,
        Retry,
        RetryBudget,
    )

    providers = [
        OpenAICompatible(name="primary", base_url=base_url, model="ok", api_key="sk-bench"),
        OpenAICompatible(name="backup", base_url=base_url, model="ok", api_key="sk-bench"),
    ]
    options: dict[str, Any] = {
        "timeout": 60.0,
        "retry": Retry(attempts=3),
        "breaker": CircuitBreaker(),
        "rate_limit": RateLimit(requests_per_second=100_000, max_concurrency=10_000),
        "retry_budget": RetryBudget(),
        "cache": Cache(directory=tmp / f"cache-{uuid.uuid4().hex[:8]}"),
        "coalesce": True,
    }
    return providers, options


async def run_ours_async(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    from deepseek_resilient import AsyncClient

    tag = uuid.uuid4().hex[:8]
    providers, options = _our_options(base_url, tmp)
    async with AsyncClient(providers, **options) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(messages=_messages(tag, i), temperature=0)
            assert r.choices[0].message.content and r.route.cache == "miss"

        return await _measure(calls, concurrency, one)


async def run_ours_default(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """The library's defaults: two providers, retries, breaker, retry budget; no cache, no
    rate limit, and (sampled requests) nothing to merge."""
    from deepseek_resilient import AsyncClient

    tag = uuid.uuid4().hex[:8]
    providers, _ = _our_options(base_url, tmp)
    async with AsyncClient(providers, timeout=60.0) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(messages=_messages(tag, i))
            assert r.choices[0].message.content and r.route.cache == "bypass"

        return await _measure(calls, concurrency, one)


async def run_ours_one(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    """The defaults with ONE provider: no fallback, so a completion goes upstream unstreamed
    (no first-token limit to enforce); the pipeline's own cost against raw httpx2."""
    from deepseek_resilient import AsyncClient

    tag = uuid.uuid4().hex[:8]
    providers, _ = _our_options(base_url, tmp)
    async with AsyncClient(providers[:1], timeout=60.0) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(messages=_messages(tag, i))
            assert r.choices[0].message.content

        return await _measure(calls, concurrency, one)


async def run_ours_cache_hit(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    from deepseek_resilient import AsyncClient

    providers, options = _our_options(base_url, tmp)
    messages = _messages(uuid.uuid4().hex[:8], 0)
    async with AsyncClient(providers, **options) as client:
        first = await client.chat.completions.create(messages=messages, temperature=0)
        assert first.route.cache == "miss"

        async def one(i: int) -> None:
            r = await client.chat.completions.create(messages=messages, temperature=0)
            assert r.choices[0].message.content and r.route.cache == "hit"

        return await _measure(calls, concurrency, one)


def run_ours_sync(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    from deepseek_resilient import Client

    tag = uuid.uuid4().hex[:8]
    providers, options = _our_options(base_url, tmp)
    with Client(providers, **options) as client, ThreadPoolExecutor(THREADS) as pool:

        def one(i: int) -> None:
            r = client.chat.completions.create(messages=_messages(tag, i), temperature=0)
            assert r.choices[0].message.content and r.route.cache == "miss"

        list(pool.map(one, range(-WARMUP, 0)))
        with Stopwatch() as sw:
            list(pool.map(one, range(calls)))
    return sw.cpu, sw.wall


async def run_openai(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    from openai import AsyncOpenAI

    tag = uuid.uuid4().hex[:8]
    async with AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=2) as client:

        async def one(i: int) -> None:
            r = await client.chat.completions.create(
                model="ok",
                messages=_messages(tag, i),  # type: ignore[arg-type]
                temperature=0,
            )
            assert r.choices[0].message.content

        return await _measure(calls, concurrency, one)


async def run_litellm(base_url: str, calls: int, concurrency: int, tmp: Path) -> Timed:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the cost map
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    params = {"model": "openai/ok", "api_base": base_url, "api_key": "sk-bench"}
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": dict(params)},
            {"model_name": "backup", "litellm_params": dict(params)},
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=2,
    )
    tag = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        r: Any = await router.acompletion(
            model="primary", messages=_messages(tag, i), temperature=0
        )
        assert r.choices[0].message.content

    return await _measure(calls, concurrency, one)


CLIENTS: dict[str, tuple[str, Callable[..., Any], str | None]] = {
    # key: (label, runner, distribution needed)
    "raw-httpx2": ("raw httpx2.AsyncClient", run_raw_httpx2, None),
    "raw-httpx2-sse": ("raw httpx2.AsyncClient, streamed (SSE)", run_raw_httpx2_sse, None),
    "raw-transport": ("raw httpx2 transport (our sender's path)", run_raw_transport, None),
    "raw-transport-sse": ("raw httpx2 transport, streamed (SSE)", run_raw_transport_sse, None),
    "raw-httpx": ("raw httpx 0.28 AsyncClient", run_raw_httpx, "httpx"),
    "ours-async": ("AsyncClient, all layers (cache miss)", run_ours_async, None),
    "ours-default": ("AsyncClient, defaults (retries, breaker, budget)", run_ours_default, None),
    "ours-one": ("AsyncClient, defaults, one provider (unstreamed upstream)", run_ours_one, None),
    "ours-sync": (f"Client (sync), {THREADS} threads, all layers", run_ours_sync, None),
    "openai": ("openai AsyncOpenAI", run_openai, "openai"),
    "litellm": ("LiteLLM Router (fallback, 2 retries)", run_litellm, "litellm"),
    "ours-hit": ("AsyncClient, cache hit", run_ours_cache_hit, None),
}


def worker(
    client: str, base_url: str, calls: int, concurrency: int, profile: bool
) -> dict[str, Any]:
    """Run one client once in this process; returns cpu/wall seconds (and profile frames)."""
    _, runner, _ = CLIENTS[client]
    with tempfile.TemporaryDirectory(prefix="ds-bench-") as tmp:
        profiler = None
        if profile:
            from benchmarks._profile import start_profiler

            profiler = start_profiler()
        if client == "ours-sync":  # runs its own loop thread
            cpu, wall = runner(base_url, calls, concurrency, Path(tmp))
        else:
            cpu, wall = anyio.run(runner, base_url, calls, concurrency, Path(tmp))
        out: dict[str, Any] = {"client": client, "cpu": cpu, "wall": wall, "calls": calls}
        if profiler is not None:
            from benchmarks._profile import top_frames

            out["profile"] = top_frames(profiler)
    return out


# ----------------------------------------------------------------------------- the section


def available_clients() -> tuple[list[str], list[str]]:
    """(clients to run, notes on the ones left out)."""
    keys, notes = [], []
    for key, (label, _, dist) in CLIENTS.items():
        if dist is None or installed(dist):
            keys.append(key)
        else:
            notes.append(f"{label}: not run ({dist} is not installed; `pip install '.[bench]'`)")
    return keys, notes


def measure(base_url: str, calls: int, concurrency: int, repeats: int) -> dict[str, list[Timed]]:
    """Every available client ``repeats`` times, each run in a fresh interpreter."""
    keys, _ = available_clients()
    results: dict[str, list[Timed]] = {k: [] for k in keys}
    for r in range(repeats):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]  # rotate: no fixed position
        for key in order:
            out = run_json(
                [
                    "-m",
                    "benchmarks.bench_overhead",
                    "--worker",
                    key,
                    "--base-url",
                    base_url,
                    "--calls",
                    str(calls),
                    "--concurrency",
                    str(concurrency),
                ]
            )
            results[key].append((out["cpu"], out["wall"]))
            print(
                f"  overhead {r + 1}/{repeats} {key:<10} cpu {out['cpu'] / calls * 1e6:7.0f} us"
                f"  wall {out['wall'] / calls * 1e6:7.0f} us per call",
                flush=True,
            )
    return results


def profile_ours(
    base_url: str, calls: int, concurrency: int, client: str = "ours-async"
) -> list[list[Any]]:
    """The top frames of one client's hot path (our AsyncClient by default), pyinstrument."""
    out = run_json(
        [
            "-m",
            "benchmarks.bench_overhead",
            "--worker",
            client,
            "--base-url",
            base_url,
            "--calls",
            str(calls),
            "--concurrency",
            str(concurrency),
            "--profile",
        ]
    )
    return list(out.get("profile", []))


def section(results: dict[str, list[Timed]], calls: int, concurrency: int, repeats: int) -> Section:
    _, notes = available_clients()
    notes.append(
        f"The sync Client runs {THREADS} calls at a time (8 threads), so httpx keeps fewer "
        "connections than at concurrency 32; its figure is not a like-for-like ratio."
    )
    cpu = {k: median([c for c, _ in v]) / calls for k, v in results.items()}
    wall = {k: median([w for _, w in v]) / calls for k, v in results.items()}
    base_cpu, base_wall = cpu[BASELINE], wall[BASELINE]
    rows = []
    for key in results:
        label = CLIENTS[key][0]
        spread = [c / calls * 1e6 for c, _ in results[key]]
        rows.append(
            [
                label,
                fmt_us(cpu[key]),
                f"{cpu[key] / base_cpu:.2f} x",
                fmt_us(wall[key]),
                f"{wall[key] / base_wall:.2f} x",
                f"{min(spread):,.0f}-{max(spread):,.0f}",
            ]
        )
    ratio = cpu["ours-async"] / base_cpu
    targets = [
        Target(
            "AsyncClient (all layers, cache miss) CPU / raw httpx2 CPU",
            ratio,
            "<= 1.10",
            ratio <= 1.10,
            f"{ratio:.2f} x",
        ),
    ]
    if "raw-httpx2-sse" in cpu:
        sse = cpu["ours-async"] / cpu["raw-httpx2-sse"]
        targets.append(
            Target(
                "AsyncClient (all layers) CPU / raw httpx2 streamed CPU (the same upstream work)",
                sse,
                "report",
                None,
                f"{sse:.2f} x",
            )
        )
    floors = (
        ("raw-transport-sse", "<= 1.30", 1.30, "ours-async", "all layers"),
        ("raw-transport-sse", "<= 1.20", 1.20, "ours-default", "defaults"),
        ("raw-transport", "report", None, "ours-one", "defaults, one provider"),
    )
    for floor, goal, limit, ours, what in floors:
        if floor in cpu and ours in cpu:
            r = cpu[ours] / cpu[floor]
            targets.append(
                Target(
                    f"AsyncClient ({what}) CPU / {CLIENTS[floor][0]} CPU (the true floor)",
                    r,
                    goal,
                    None if limit is None else r <= limit,
                    f"{r:.2f} x",
                )
            )
    if "ours-default" in cpu:
        default = cpu["ours-default"] / base_cpu
        targets.append(
            Target(
                "AsyncClient (defaults: 2 providers, retries, breaker, budget) CPU / raw httpx2",
                default,
                "report",
                None,
                f"{default:.2f} x",
            )
        )
        if "openai" in cpu:
            r = cpu["ours-default"] / cpu["openai"]
            targets.append(
                Target(
                    f"AsyncClient (defaults) CPU / {CLIENTS['openai'][0]} CPU",
                    r,
                    "< 1 (ahead)",
                    r < 1.0,
                    f"{r:.2f} x",
                )
            )
    for peer in ("openai", "litellm"):
        if peer in cpu:
            r = cpu["ours-async"] / cpu[peer]
            targets.append(
                Target(
                    f"AsyncClient (all layers) CPU / {CLIENTS[peer][0]} CPU",
                    r,
                    "< 1 (ahead)",
                    r < 1.0,
                    f"{r:.2f} x",
                )
            )
    return Section(
        title="1. Per-call client overhead",
        method=(
            f"{calls:,} calls at concurrency {concurrency} (the sync Client: {THREADS} threads) "
            f"against the local server in another process; median of {repeats} runs, each in a "
            "fresh interpreter, clients interleaved. CPU = the client process's CPU time (all "
            "threads) per call; wall = elapsed time per call. Every request is unique "
            "(temperature 0), so our cache misses and stores each answer."
        ),
        header=[
            "client",
            "CPU us/call",
            "CPU vs raw httpx2",
            "wall us/call",
            "wall vs raw httpx2",
            "CPU range (runs)",
        ],
        rows=rows,
        targets=targets,
        notes=notes,
        data={
            "cpu_us": {CLIENTS[k][0]: cpu[k] * 1e6 for k in cpu},
            "wall_us": {CLIENTS[k][0]: wall[k] * 1e6 for k in wall},
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=sorted(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.base_url, args.calls, args.concurrency, args.profile)
        print(json.dumps(result))
        return
    with server_process() as server:
        results = measure(server.base_url, args.calls, args.concurrency, args.repeats)
    print(section(results, args.calls, args.concurrency, args.repeats).text())


if __name__ == "__main__":
    main()
