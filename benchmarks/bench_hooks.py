"""CPU per call with hooks installed vs none, against the local benchmark server, in one run.

    python -m benchmarks.bench_hooks [--calls 3000] [--concurrency 32] [--repeats 3]

Variants of the same ``AsyncClient`` (two providers, the library's default policies), each run
in a fresh interpreter per repeat, interleaved and rotated like ``bench_overhead``:

* ``none``: ``stats=False`` and no hooks (only the built-in logging hook, which builds
  no event for a request that succeeds);
* ``idle``: ``stats=False`` plus a hook with every ``on_*`` method doing nothing (the cost of
  building and dispatching every event);
* ``stats``: the default client (``client.stats()`` kept up to date);
* ``prom``: ``stats=False`` plus ``PrometheusMetrics`` (its own registry);
* ``both``: ``prom`` plus ``OpenTelemetryMetrics`` on the OpenTelemetry SDK (every request
  traced: spans through a batch processor into an exporter that drops them; metrics into an
  in-memory reader);
* ``both10``: ``both`` with the SDK sampling 10 % of the traces (``TraceIdRatioBased``), as
  busy services do.

Targets (issues 14 and 16): idle <= 1.02 x none; both <= 1.05 x none. The ``both`` workers
also measure the SDK's own floor (one span started and ended, one histogram record), so the
``both`` figure can be read against it.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
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
    median,
    run_concurrently,
    run_json,
    server_process,
)

WARMUP = 64


class NoopHook:
    """Receives every event and does nothing with it."""

    def __getattr__(self, name: str) -> Callable[[object], None]:
        if name.startswith("on_"):
            return lambda event: None
        raise AttributeError(name)


VARIANTS = {
    "none": "no hooks (stats=False)",
    "idle": "a no-op hook on every event (stats=False)",
    "stats": "defaults: stats() kept",
    "prom": "PrometheusMetrics",
    "both": "PrometheusMetrics + OpenTelemetryMetrics (SDK, all traced)",
    "both10": "PrometheusMetrics + OpenTelemetryMetrics (SDK, 10 % traced)",
}


def _hooks(variant: str) -> tuple[list[object], bool]:
    """(hooks, stats) of a variant."""
    if variant == "none":
        return [], False
    if variant == "idle":
        return [NoopHook()], False
    if variant == "stats":
        return [], True
    from prometheus_client import CollectorRegistry

    from deepseek_resilient.metrics import OpenTelemetryMetrics, PrometheusMetrics

    prometheus = PrometheusMetrics(CollectorRegistry())
    if variant == "prom":
        return [prometheus], False
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Drop(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    sampler = ParentBased(TraceIdRatioBased(0.1)) if variant == "both10" else None
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return [prometheus, OpenTelemetryMetrics(tracer_provider, meter_provider)], False


def sdk_floor() -> dict[str, float]:
    """Microseconds the OpenTelemetry SDK itself takes for one CLIENT span (three attributes,
    started and ended) and for one histogram record (three attributes), in this process."""
    import time

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind

    tracer = TracerProvider().get_tracer("floor")
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("floor")
    record = meter.create_histogram("h").record
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "p",
        "gen_ai.request.model": "m",
    }
    n = 5000
    started = time.process_time()
    for _ in range(n):
        tracer.start_span("chat m", kind=SpanKind.CLIENT, attributes=attrs).end()
    span = (time.process_time() - started) / n
    started = time.process_time()
    for _ in range(n):
        record(0.1, attrs)
    return {"span_us": span * 1e6, "record_us": (time.process_time() - started) / n * 1e6}


async def run_variant(variant: str, base_url: str, calls: int, concurrency: int) -> dict[str, Any]:
    from deepseek_resilient import AsyncClient, OpenAICompatible

    hooks, stats = _hooks(variant)
    providers = [
        OpenAICompatible(name="primary", base_url=base_url, model="ok", api_key="sk-bench"),
        OpenAICompatible(name="backup", base_url=base_url, model="ok", api_key="sk-bench"),
    ]
    tag = uuid.uuid4().hex[:8]
    async with AsyncClient(providers, timeout=60.0, hooks=hooks, stats=stats) as client:

        async def one(i: int) -> None:
            messages = [{"role": "user", "content": f"Say hello. ({tag}-{i})"}]
            r = await client.chat.completions.create(messages=messages)
            assert r.choices[0].message.content

        await run_concurrently(WARMUP, concurrency, lambda i: one(-1 - i))
        with Stopwatch() as sw:
            await run_concurrently(calls, concurrency, one)
    out: dict[str, Any] = {"variant": variant, "cpu": sw.cpu, "wall": sw.wall, "calls": calls}
    if variant == "both":
        out["floor"] = sdk_floor()
    return out


async def run_in_process(calls: int, concurrency: int, rounds: int) -> dict[str, float]:
    """The hooks' own CPU, without the network's noise: every variant on in-process fake
    providers in one interpreter, ``rounds`` interleaved rounds of ``calls`` calls; the
    minimum CPU seconds per call of each variant."""
    import time

    from deepseek_resilient import AsyncClient
    from deepseek_resilient.testing import FakeProvider

    keys = list(VARIANTS)
    clients = {}
    for key in keys:
        hooks, stats = _hooks(key)
        providers = [FakeProvider("primary"), FakeProvider("backup")]
        clients[key] = AsyncClient(providers, timeout=60.0, hooks=hooks, stats=stats)
    best = dict.fromkeys(keys, float("inf"))
    messages = [{"role": "user", "content": "Say hello."}]
    for r in range(rounds + 1):  # round 0 warms up
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            client = clients[key]

            async def one(i: int, client: AsyncClient = client) -> None:
                await client.chat.completions.create(messages=messages)

            started = time.process_time()
            await run_concurrently(calls, concurrency, one)
            if r:
                best[key] = min(best[key], (time.process_time() - started) / calls)
    for client in clients.values():
        await client.aclose()
    return best


def measure(
    base_url: str, calls: int, concurrency: int, repeats: int
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """CPU seconds per run, per variant (every variant ``repeats`` times, fresh interpreters,
    rotated), and the SDK floor measured in each ``both`` worker."""
    keys = list(VARIANTS)
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    floors: list[dict[str, float]] = []
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            out = run_json(
                ["-m", "benchmarks.bench_hooks", "--worker", key, "--base-url", base_url,
                 "--calls", str(calls), "--concurrency", str(concurrency)]
            )  # fmt: skip
            cpu[key].append(out["cpu"])
            if "floor" in out:
                floors.append(out["floor"])
            print(
                f"  hooks {r + 1}/{repeats} {key:<6} cpu {out['cpu'] / calls * 1e6:7.0f} us/call",
                flush=True,
            )
    return cpu, floors


def section(
    cpu: dict[str, list[float]],
    floors: list[dict[str, float]],
    inproc: dict[str, float],
    calls: int,
    concurrency: int,
    repeats: int,
) -> Section:
    per_call = {k: median(v) / calls for k, v in cpu.items()}
    base = per_call["none"]
    rows = [
        [
            VARIANTS[k],
            fmt_us(per_call[k]),
            f"{per_call[k] / base:.3f} x",
            f"{min(v) / calls * 1e6:,.0f}-{max(v) / calls * 1e6:,.0f}",
            f"{(inproc[k] - inproc['none']) * 1e6:+,.1f}",
            f"{(base + inproc[k] - inproc['none']) / base:.3f} x",
        ]
        for k, v in cpu.items()
    ]
    ratio = {k: per_call[k] / base for k in per_call}
    estimate = {k: (base + inproc[k] - inproc["none"]) / base for k in inproc}
    notes = []
    if floors:
        span = median([f["span_us"] for f in floors])
        record = median([f["record_us"] for f in floors])
        notes.append(
            f"OpenTelemetry SDK floor in the same workers: {span:.0f} us per span (start + end) "
            f"and {record:.0f} us per histogram record; a traced request makes 2 spans and 3 "
            f"records: about {2 * span + 3 * record:.0f} us before any of our code runs."
        )
    return Section(
        title="Hooks: CPU per call with hooks installed vs none",
        method=(
            f"{calls:,} calls at concurrency {concurrency} against the local server in another "
            f"process; median of {repeats} runs per variant, each in a fresh interpreter, "
            "variants interleaved. CPU = the client process's CPU time (all threads) per call. "
            "'added': the same variants on in-process fake providers in one interpreter (no "
            "sockets), the minimum over interleaved rounds minus the no-hook minimum: the "
            "hooks' own CPU, free of the network's noise; 'none + added' sets it against the "
            "no-hook call through the server."
        ),
        header=[
            "variant",
            "CPU us/call",
            "vs none",
            "CPU range (runs)",
            "added us/call (in-process)",
            "none + added",
        ],
        rows=rows,
        targets=[
            _target("idle hook / none", ratio["idle"], 1.02),
            _target("idle hook, none + added / none", estimate["idle"], 1.02),
            _target("Prometheus alone / none", ratio["prom"], 1.05),
            _target("Prometheus + OTel (all traced) / none", ratio["both"], 1.05),
            _target("Prometheus + OTel, none + added / none", estimate["both"], 1.05),
        ],
        notes=notes,
        data={
            "cpu_us": {k: v * 1e6 for k, v in per_call.items()},
            "added_us": {k: (inproc[k] - inproc["none"]) * 1e6 for k in inproc},
        },
    )


def _target(name: str, value: float, limit: float) -> Target:
    return Target(name, value, f"<= {limit:g}", value <= limit, f"{value:.3f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10, help="in-process rounds")
    parser.add_argument("--worker", choices=[*VARIANTS, "inproc"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "inproc":
        print(json.dumps(anyio.run(run_in_process, 1000, args.concurrency, args.rounds)))
        return
    if args.worker:
        result = anyio.run(run_variant, args.worker, args.base_url, args.calls, args.concurrency)
        print(json.dumps(result))
        return
    with server_process() as server:
        cpu, floors = measure(server.base_url, args.calls, args.concurrency, args.repeats)
    inproc = run_json(
        ["-m", "benchmarks.bench_hooks", "--worker", "inproc", "--rounds", str(args.rounds),
         "--concurrency", str(args.concurrency)]
    )  # fmt: skip
    print(section(cpu, floors, inproc, args.calls, args.concurrency, args.repeats).text())


if __name__ == "__main__":
    main()
