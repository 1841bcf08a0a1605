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

Targets (issues 14 and 16): idle <= 1.02 x none; both <= 1.05 x none. The ``both`` figure is
read against the OpenTelemetry SDK's own floor, measured twice: the ``both`` workers time, in a
hot loop, the bare SDK calls one traced request needs (a CLIENT span, a child CLIENT span
through a ``BatchSpanProcessor``, three histogram records, with the attributes our hook sets);
and the in-process run adds a ``floor`` variant, ``prom`` plus a minimal hook making exactly
those SDK calls with constant attributes (``BareOpenTelemetry``): what ``both`` would cost if
our OpenTelemetry hook did nothing but call the SDK.
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


#: Run in-process only (no server runs): the SDK floor of ``both``.
IN_PROCESS_ONLY = {"floor": "PrometheusMetrics + the bare OpenTelemetry SDK calls"}

# The attributes of one traced request, as OpenTelemetryMetrics sets them (same count and
# types): on the request span at its start and its end, on the attempt span, on the duration
# record and on the two token records.
_REQUEST = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
_FINISH = {
    "deepseek_resilient.attempts": 1,
    "gen_ai.provider.name": "primary",
    "gen_ai.response.model": "m",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 34,
}
_ATTEMPT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "primary",
    "gen_ai.request.model": "m",
    "deepseek_resilient.attempt": 1,
    "server.address": "127.0.0.1",
}
_DURATION = {k: v for k, v in _ATTEMPT.items() if k != "deepseek_resilient.attempt"}
_INPUT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "primary",
    "gen_ai.request.model": "m",
    "gen_ai.response.model": "m",
    "gen_ai.token.type": "input",
}
_OUTPUT = {**_INPUT, "gen_ai.token.type": "output"}


class BareOpenTelemetry:
    """The OpenTelemetry SDK calls of ``OpenTelemetryMetrics`` for a request answered at the
    first attempt, and nothing else: constant attributes, no bookkeeping beyond a dict."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import trace

        self._start = tracer_provider.get_tracer("floor").start_span
        meter = meter_provider.get_meter("floor")
        self._duration = meter.create_histogram("d").record
        self._tokens = meter.create_histogram("t").record
        self._in_context = trace.set_span_in_context
        self._client = trace.SpanKind.CLIENT
        self._spans: dict[int, list[Any]] = {}

    def on_request_started(self, event: Any) -> None:
        span = self._start("chat m", None, self._client, _REQUEST)
        self._spans[event.request_id] = [span, None]

    def on_attempt_started(self, event: Any) -> None:
        spans = self._spans[event.request_id]
        spans[1] = self._start("chat m", self._in_context(spans[0]), self._client, _ATTEMPT)

    def on_attempt_finished(self, event: Any) -> None:
        self._spans[event.request_id][1].end()
        self._duration(event.latency, _DURATION)

    def on_request_finished(self, event: Any) -> None:
        span = self._spans.pop(event.request_id)[0]
        span.set_attributes(_FINISH)
        span.end()
        self._tokens(12, _INPUT)
        self._tokens(34, _OUTPUT)


def _otel_providers(variant: str) -> tuple[Any, Any]:
    """The SDK's tracer and meter providers of a variant (a batch processor into an exporter
    that drops the spans; an in-memory metric reader)."""
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
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


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
    tracer_provider, meter_provider = _otel_providers(variant)
    if variant == "floor":
        return [prometheus, BareOpenTelemetry(tracer_provider, meter_provider)], False
    return [prometheus, OpenTelemetryMetrics(tracer_provider, meter_provider)], False


def sdk_floor() -> dict[str, float]:
    """Microseconds the OpenTelemetry SDK itself takes, in a hot loop in this process, for
    the two spans of a traced request (a CLIENT span and a child CLIENT span, with the
    attributes our hook sets, through a batch processor) and for one histogram record."""
    import time

    from opentelemetry import trace

    tracer_provider, meter_provider = _otel_providers("both")
    start = tracer_provider.get_tracer("floor").start_span
    record = meter_provider.get_meter("floor").create_histogram("h").record
    client = trace.SpanKind.CLIENT
    n, batch = 2000, 250  # flushed every 500 spans: the processor's queue never overflows
    spans = 0.0
    for _ in range(n // batch):
        started = time.process_time()
        for _ in range(batch):
            span = start("chat m", None, client, _REQUEST)
            start("chat m", trace.set_span_in_context(span), client, _ATTEMPT).end()
            span.set_attributes(_FINISH)
            span.end()
        spans += time.process_time() - started
        tracer_provider.force_flush()
    spans /= n
    started = time.process_time()
    for _ in range(n):
        record(0.1, _DURATION)
        record(12, _INPUT)
        record(34, _OUTPUT)
    records = (time.process_time() - started) / n
    tracer_provider.shutdown()
    return {"spans_us": spans * 1e6, "record_us": records / 3 * 1e6}


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

    keys = [*VARIANTS, *IN_PROCESS_ONLY]
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
        spans = median([f["spans_us"] for f in floors])
        record = median([f["record_us"] for f in floors])
        notes.append(
            f"OpenTelemetry SDK floor in the same workers, in a hot loop: {spans:.0f} us for the "
            f"two spans of a traced request (request span and attempt span, through a batch "
            f"processor) and {record:.0f} us per histogram record; a traced request makes 3 "
            f"records: about {spans + 3 * record:.0f} us before any of our code runs."
        )
    if "floor" in inproc:
        floor, both = inproc["floor"] - inproc["none"], inproc["both"] - inproc["none"]
        notes.append(
            f"In-process floor: {IN_PROCESS_ONLY['floor']} (only the SDK calls a traced "
            f"request needs, constant attributes) adds {floor * 1e6:+,.1f} us/call, "
            f"{(base + floor) / base:.3f} x as none + added; Prometheus + OpenTelemetryMetrics "
            f"add {(both - floor) * 1e6:+,.1f} us/call over that floor."
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
