"""``OpenTelemetryMetrics``: spans and metrics after the OpenTelemetry GenAI conventions.

Per request a CLIENT span ``chat {model}``; per attempt a child CLIENT span with
``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``server.address`` and, when it failed, ``error.type``. The request span gets the answering
provider, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens`` and our
own ``deepseek_resilient.*`` attributes (attempts; cache, coalesced, retries, failovers and
outcome when they say something), with
span events for each retry, failover, skip and stream commit. Metrics:
``gen_ai.client.operation.duration`` (s, per attempt) and ``gen_ai.client.token.usage``
({token}, per answered request). With ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``
also ``gen_ai.client.operation.time_to_first_chunk`` and the
``gen_ai.usage.cache_read.input_tokens`` attribute. No prompt or answer text is ever recorded:
the events carry none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._events import (
    AttemptFinished,
    AttemptStarted,
    CacheLookup,
    Coalesced,
    Failover,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    StreamCommitted,
    StreamIncomplete,
    StreamRecovered,
)
from ._conventions import (
    DURATION_BUCKETS,
    OPERATION,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    latest_experimental,
    require,
)

__all__ = ["OpenTelemetryMetrics"]

_SCOPE = "deepseek_resilient"
#: Requests whose spans are still open; beyond this the oldest are ended (a stream that
#: was never closed must not grow memory forever).
MAX_OPEN = 10_000


@dataclass
class _Open:
    span: Any
    attempt: Any = None
    attempts: int = 0
    retries: int = 0
    failovers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class OpenTelemetryMetrics:
    """Trace and measure through ``tracer_provider`` / ``meter_provider`` (default: the
    global ones set with ``opentelemetry.trace.set_tracer_provider`` / ``metrics...``).
    Needs only opentelemetry-api (extra ``otel``); an SDK or exporter is yours to set up."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        trace = require("opentelemetry.trace", "otel", "OpenTelemetryMetrics")
        metrics = require("opentelemetry.metrics", "otel", "OpenTelemetryMetrics")
        version = _version()
        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider)
        meter = metrics.get_meter(_SCOPE, version, meter_provider)
        self._latest = latest_experimental()
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._ttfc = None
        if self._latest:
            self._ttfc = meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time to receive the first chunk of a streamed answer",
                explicit_bucket_boundaries_advisory=TTFT_BUCKETS,
            )
        self._open: dict[int, _Open] = {}

    # -- request span

    def on_request_started(self, event: RequestStarted) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.request.model": event.model,
        }
        if event.stream:
            attrs["deepseek_resilient.stream"] = True
        span = self._tracer.start_span(
            f"{OPERATION} {event.model}", kind=self._trace.SpanKind.CLIENT, attributes=attrs
        )
        if len(self._open) >= MAX_OPEN:
            oldest = next(iter(self._open))
            self._open.pop(oldest).span.end()
        self._open[event.request_id] = _Open(span)

    def on_request_finished(self, event: RequestFinished) -> None:
        state = self._open.pop(event.request_id, None)
        if state is None:
            return
        span = state.span
        # Each attribute costs the SDK a few microseconds: ours only when they say something.
        attrs: dict[str, Any] = {"deepseek_resilient.attempts": state.attempts}
        if event.cache != "bypass":
            attrs["deepseek_resilient.cache"] = event.cache
        if event.coalesced:
            attrs["deepseek_resilient.coalesced"] = True
        if state.retries:
            attrs["deepseek_resilient.retries"] = state.retries
        if state.failovers:
            attrs["deepseek_resilient.failovers"] = state.failovers
        if event.outcome != "ok":
            attrs["deepseek_resilient.outcome"] = event.outcome
        if event.provider is not None:
            attrs["gen_ai.provider.name"] = event.provider
        if event.response_model:
            attrs["gen_ai.response.model"] = event.response_model
        usage = event.usage
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.input
            attrs["gen_ai.usage.output_tokens"] = usage.output
            if self._latest:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cache_hit
        if event.error_type is not None:
            attrs["error.type"] = event.error_type
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.set_attributes(attrs)
        span.end()
        if usage is not None and event.provider is not None:
            metric_attrs = {
                "gen_ai.operation.name": OPERATION,
                "gen_ai.provider.name": event.provider,
                "gen_ai.request.model": event.model,
            }
            if event.response_model:
                metric_attrs["gen_ai.response.model"] = event.response_model
            self._tokens.record(usage.input, {**metric_attrs, "gen_ai.token.type": "input"})
            self._tokens.record(usage.output, {**metric_attrs, "gen_ai.token.type": "output"})

    # -- attempt spans

    def on_attempt_started(self, event: AttemptStarted) -> None:
        state = self._open.get(event.request_id)
        if state is None:
            return
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": event.provider,
            "gen_ai.request.model": event.model,
            "deepseek_resilient.attempt": event.attempt,
        }
        if event.server_address:
            attrs["server.address"] = event.server_address
        state.attempts += 1
        state.attempt = self._tracer.start_span(
            f"{OPERATION} {event.model}",
            context=self._trace.set_span_in_context(state.span),
            kind=self._trace.SpanKind.CLIENT,
            attributes=attrs,
        )

    def on_attempt_finished(self, event: AttemptFinished) -> None:
        state = self._open.get(event.request_id)
        if event.outcome == "skipped":
            if state is not None:
                state.span.add_event(
                    "deepseek_resilient.skipped",
                    {"gen_ai.provider.name": event.provider, "error.type": event.error_type or ""},
                )
            return
        if state is not None and state.attempt is not None:
            span, state.attempt = state.attempt, None
            if event.outcome != "ok":
                span.set_attribute("deepseek_resilient.outcome", event.outcome)
            if event.error_type is not None:
                span.set_attribute("error.type", event.error_type)
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
            if event.status_code is not None:
                span.set_attribute("http.response.status_code", event.status_code)
            span.end()
        if event.outcome == "cancelled":
            return
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": event.provider,
            "gen_ai.request.model": event.model,
        }
        if event.server_address:
            attrs["server.address"] = event.server_address
        if event.error_type is not None:
            attrs["error.type"] = event.error_type
        self._duration.record(event.latency, attrs)

    # -- what happened along the way: span events on the request span

    def on_retry_scheduled(self, event: RetryScheduled) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.retries += 1
            state.span.add_event(
                "deepseek_resilient.retry",
                {
                    "gen_ai.provider.name": event.provider,
                    "deepseek_resilient.delay": event.delay,
                    "deepseek_resilient.attempt": event.attempt,
                    "error.type": event.error_type,
                },
            )

    def on_failover(self, event: Failover) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.failovers += 1
            state.span.add_event(
                "deepseek_resilient.failover",
                {
                    "deepseek_resilient.from_provider": event.from_provider,
                    "deepseek_resilient.to_provider": event.to_provider,
                    "error.type": event.reason,
                },
            )

    def on_cache_lookup(self, event: CacheLookup) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.span.add_event(
                "deepseek_resilient.cache", {"deepseek_resilient.cache": event.result}
            )

    def on_coalesced(self, event: Coalesced) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.span.add_event("deepseek_resilient.coalesced")

    def on_stream_committed(self, event: StreamCommitted) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.span.add_event(
                "deepseek_resilient.stream.committed",
                {"gen_ai.provider.name": event.provider, "deepseek_resilient.ttft": event.ttft},
            )
        if self._ttfc is not None:
            attrs = {"gen_ai.operation.name": OPERATION, "gen_ai.provider.name": event.provider}
            self._ttfc.record(event.ttft, attrs)

    def on_stream_recovered(self, event: StreamRecovered) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.span.add_event(
                "deepseek_resilient.stream.recovered",
                {
                    "deepseek_resilient.from_provider": event.from_provider,
                    "gen_ai.provider.name": event.provider,
                    "deepseek_resilient.how": event.how,
                },
            )

    def on_stream_incomplete(self, event: StreamIncomplete) -> None:
        state = self._open.get(event.request_id)
        if state is not None:
            state.span.add_event(
                "deepseek_resilient.stream.incomplete",
                {"gen_ai.provider.name": event.provider, "error.type": event.error_type},
            )

    def __repr__(self) -> str:
        return f"OpenTelemetryMetrics(open_spans={len(self._open)})"


def _version() -> str:
    from .. import __version__

    return __version__
