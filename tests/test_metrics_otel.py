"""OpenTelemetryMetrics: spans and metrics after scripted traffic, read from the SDK's
in-memory span exporter and metric reader; GenAI attribute names; the opt-in; no content."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from _traffic import NEVER_SEEN, run_traffic
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode

from deepseek_resilient import ConfigurationError
from deepseek_resilient._core.events import AttemptFinished, AttemptStarted, RequestStarted
from deepseek_resilient.metrics import DURATION_BUCKETS, OpenTelemetryMetrics, _otel
from deepseek_resilient.testing import FaultServer

pytestmark = pytest.mark.anyio


def setup() -> tuple[OpenTelemetryMetrics, InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    hook = OpenTelemetryMetrics(tracer_provider, MeterProvider(metric_readers=[reader]))
    return hook, exporter, reader


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "deepseek_resilient"
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_spans_and_metrics_after_scripted_traffic(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    hook, exporter, reader = setup()
    await run_traffic(llm_server, tmp_path, [hook])
    spans = exporter.get_finished_spans()
    requests = [s for s in spans if s.parent is None]
    attempts = [s for s in spans if s.parent is not None]
    assert len(requests) == 4 and len(attempts) == 7  # 2 + 0 (cache hit) + 3 + 1 deepseek, 1 local
    assert all(s.kind is SpanKind.CLIENT for s in spans)
    assert {s.name for s in requests} == {"chat m"}  # the model asked for, else the first's
    assert sorted(s.name for s in attempts) == ["chat fake-model"] + ["chat m"] * 6
    by_id = {s.context.span_id: s for s in requests}
    assert all(a.parent.span_id in by_id for a in attempts)  # type: ignore[union-attr]

    first, hit, failover, stream = sorted(requests, key=lambda s: s.start_time or 0)
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.request.model"] == "m"
    assert first.attributes["gen_ai.provider.name"] == "deepseek"
    assert first.attributes["gen_ai.response.model"] == "test-model"
    assert (
        first.attributes["gen_ai.usage.input_tokens"],
        first.attributes["gen_ai.usage.output_tokens"],
    ) == (5, 2)
    assert first.attributes["deepseek_resilient.retries"] == 1
    assert first.attributes["deepseek_resilient.cache"] == "miss"
    assert [e.name for e in first.events] == [
        "deepseek_resilient.retry",
        "deepseek_resilient.cache",
    ]
    assert hit.attributes["deepseek_resilient.cache"] == "hit"
    assert hit.attributes["gen_ai.provider.name"] == "cache"
    assert "gen_ai.usage.input_tokens" not in hit.attributes
    assert failover.attributes["gen_ai.provider.name"] == "local"
    assert failover.attributes["deepseek_resilient.failovers"] == 1
    (event,) = [e for e in failover.events if e.name == "deepseek_resilient.failover"]
    assert dict(event.attributes or {}) == {
        "deepseek_resilient.from_provider": "deepseek",
        "deepseek_resilient.to_provider": "local",
        "error.type": "InternalServerError",
    }
    assert [e.name for e in stream.events] == ["deepseek_resilient.stream.committed"]
    assert stream.attributes["deepseek_resilient.stream"] is True

    failed = [a for a in attempts if "error.type" in (a.attributes or {})]
    assert len(failed) == 4 and all(a.status.status_code is StatusCode.ERROR for a in failed)
    assert {a.attributes["http.response.status_code"] for a in failed} == {500, 503}
    deepseek = [a for a in attempts if a.attributes["gen_ai.provider.name"] == "deepseek"]
    assert all(a.attributes["server.address"] == "127.0.0.1" for a in deepseek)

    got = points(reader)
    assert "gen_ai.client.operation.time_to_first_chunk" not in got  # not opted in
    durations = got["gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == 7
    assert tuple(durations[0].explicit_bounds) == DURATION_BUCKETS
    errors: dict[str | None, int] = {}
    for p in durations:
        kind = p.attributes.get("error.type")
        errors[kind] = errors.get(kind, 0) + p.count
    assert errors == {None: 3, "ServiceUnavailableError": 1, "InternalServerError": 3}
    tokens = got["gen_ai.client.token.usage"]
    kinds = {
        (p.attributes["gen_ai.provider.name"], p.attributes["gen_ai.token.type"]): p.sum
        for p in tokens
    }
    assert kinds == {("deepseek", "input"): 10, ("deepseek", "output"): 5,
                     ("local", "input"): 1, ("local", "output"): 2}  # fmt: skip

    dumped = (
        json.dumps([json.loads(s.to_json()) for s in spans]) + reader.get_metrics_data().to_json()
    )  # type: ignore[union-attr]
    assert all(secret not in dumped for secret in NEVER_SEEN)


async def test_latest_experimental_opt_in(
    llm_server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http, gen_ai_latest_experimental")
    hook, exporter, reader = setup()
    await run_traffic(llm_server, tmp_path, [hook])
    ttfc = points(reader)["gen_ai.client.operation.time_to_first_chunk"]
    assert sum(p.count for p in ttfc) == 1
    first = min(
        (s for s in exporter.get_finished_spans() if s.parent is None),
        key=lambda s: s.start_time or 0,
    )
    assert first.attributes["gen_ai.usage.cache_read.input_tokens"] == 0


def test_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(ConfigurationError, match=r"deepseek-resilient\[otel\]"):
        OpenTelemetryMetrics()


async def test_requests_the_sampler_drops_get_metrics_but_no_spans(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    asked: list[str] = []

    class Counting(Sampler):  # type: ignore[misc]
        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            asked.append("span")
            return ALWAYS_OFF.should_sample(*args, **kwargs)

        def get_description(self) -> str:
            return "counting"

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=Counting())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    hook = OpenTelemetryMetrics(tracer_provider, MeterProvider(metric_readers=[reader]))
    await run_traffic(llm_server, tmp_path, [hook])
    assert exporter.get_finished_spans() == ()
    assert len(asked) == 4  # the 4 request spans; no attempt span under a dropped one
    assert repr(hook) == "OpenTelemetryMetrics(open_spans=0)"  # nothing kept for them
    got = points(reader)
    assert sum(p.count for p in got["gen_ai.client.operation.duration"]) == 7
    assert sum(p.sum for p in got["gen_ai.client.token.usage"]) == 10 + 5 + 1 + 2


def test_attribute_caches_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_otel, "MAX_CACHED", 3)
    hook, exporter, reader = setup()
    models = [f"model-{i}" for i in range(10)]
    hook.allow_models(models)  # configured names: each its own value
    for rid, model in enumerate(models * 2, start=1):
        error = "InternalServerError" if rid % 2 else None
        hook.on_request_started(RequestStarted(rid, model, False))
        hook.on_attempt_started(AttemptStarted(rid, "p", model, 1, "h"))
        hook.on_attempt_finished(
            AttemptFinished(rid, "p", model, "error" if error else "ok", 0.5, error, None, "h")
        )
    assert max(len(hook._request_start), len(hook._attempt_start)) <= 3
    assert len(hook._duration_attrs) <= 3
    attempts = exporter.get_finished_spans()
    assert [s.attributes["gen_ai.request.model"] for s in attempts] == models * 2
    assert all(s.name == f"chat {s.attributes['gen_ai.request.model']}" for s in attempts)
    counts: dict[tuple[str, str | None], int] = {}
    for p in points(reader)["gen_ai.client.operation.duration"]:
        assert p.attributes["server.address"] == "h"
        key = (p.attributes["gen_ai.request.model"], p.attributes.get("error.type"))
        counts[key] = counts.get(key, 0) + p.count
    expected: dict[tuple[str, str | None], int] = {}
    for rid, model in enumerate(models * 2, start=1):
        key = (model, "InternalServerError" if rid % 2 else None)
        expected[key] = expected.get(key, 0) + 1
    assert counts == expected


def test_unknown_model_names_are_one_metric_value() -> None:
    """Metric points carry a configured or known model name, or "other" (a caller's
    ``model=`` or a server's response model must not create a series per value)."""
    hook, _exporter, reader = setup()
    hook.allow_models(["mine"])
    for rid, model in enumerate(["mine", "deepseek-flash", "x" * 10_000, "evil-1", "evil-2"], 1):
        hook.on_request_started(RequestStarted(rid, model, False))
        hook.on_attempt_started(AttemptStarted(rid, "p", model, 1, "h"))
        hook.on_attempt_finished(AttemptFinished(rid, "p", model, "ok", 0.5, None, None, "h"))
    got = points(reader)["gen_ai.client.operation.duration"]
    counts = {p.attributes["gen_ai.request.model"]: p.count for p in got}
    assert counts == {"mine": 1, "deepseek-flash": 1, "other": 3}
