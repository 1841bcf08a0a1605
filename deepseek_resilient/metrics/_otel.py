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

from collections.abc import Iterable
from typing import Any

from .._core.events import (
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
    MAX_LABEL,
    OPERATION,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    ModelLabels,
    attempt_start,
    duration_attributes,
    latest_experimental,
    request_start,
    require,
    token_attributes,
)

__all__ = ["OpenTelemetryMetrics"]

_SCOPE = "deepseek_resilient"
#: Requests whose spans are still open; beyond this the oldest are ended (a stream that
#: was never closed must not grow memory forever).
MAX_OPEN = 10_000
#: Entries per attribute cache (names of providers, models, hosts, error types) before it
#: is emptied: a stream of distinct model names must not grow memory forever.
MAX_CACHED = 1_024


class _Open:
    """The open spans of one request (only of requests the sampler records)."""

    __slots__ = ("attempt", "attempts", "context", "failovers", "retries", "span")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.context: Any = None  # the request span as a parent context, made on first use
        self.attempt: Any = None
        self.attempts = 0
        self.retries = 0
        self.failovers = 0


class OpenTelemetryMetrics:
    """Trace and measure through ``tracer_provider`` / ``meter_provider`` (default: the
    global ones set with ``opentelemetry.trace.set_tracer_provider`` / ``metrics...``).
    Needs only opentelemetry-api (extra ``otel``); an SDK or exporter is yours to set up.

    A request the sampler drops costs no attempt spans and no span events (its metrics are
    recorded all the same)."""

    def __init__(
        self, tracer_provider: Any = None, meter_provider: Any = None, *, models: Iterable[str] = ()
    ) -> None:
        trace = require("opentelemetry.trace", "otel", "OpenTelemetryMetrics")
        metrics = require("opentelemetry.metrics", "otel", "OpenTelemetryMetrics")
        version = _version()
        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider)
        meter = metrics.get_meter(_SCOPE, version, meter_provider)
        self._latest = latest_experimental()
        self._models = ModelLabels(models)
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
        # Bound once: the hot path makes no attribute lookups through modules.
        self._start_span = self._tracer.start_span
        self._in_context = trace.set_span_in_context
        self._client = trace.SpanKind.CLIENT
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._record_duration = self._duration.record
        self._record_tokens = self._tokens.record
        # Span names and attribute mappings, built once per combination of their values and
        # handed to the SDK as they are (it copies them; they are never changed here).
        self._request_start: dict[tuple[str, bool], tuple[str, dict[str, Any]]] = {}
        self._attempt_start: dict[tuple[str, str, int, str | None], tuple[str, dict[str, Any]]]
        self._attempt_start = {}
        self._duration_attrs: dict[tuple[str, str, str | None, str | None], dict[str, Any]]
        self._duration_attrs = {}
        self._token_attrs: dict[tuple[str, str, str | None], tuple[dict[str, Any], ...]] = {}

    def allow_models(self, models: Iterable[str]) -> None:
        """Keep ``models`` as ``gen_ai.request.model`` metric values of their own (each client
        calls this with its providers' models); any other model name is ``"other"``."""
        self._models.allow(models)

    # -- request span

    def on_request_started(self, event: RequestStarted) -> None:
        key = (event.model[:MAX_LABEL], event.stream)
        start = self._request_start.get(key)
        if start is None:
            start = self._cached(self._request_start, key, request_start(*key))
        name, attrs = start
        span = self._start_span(name, None, self._client, attrs)
        if not span.is_recording():
            return  # dropped by the sampler: nothing to add to it, ever
        open_ = self._open
        if len(open_) >= MAX_OPEN:
            open_.pop(next(iter(open_))).span.end()
        open_[event.request_id] = _Open(span)

    def on_request_finished(self, event: RequestFinished) -> None:
        usage, provider = event.usage, event.provider
        if usage is not None and provider is not None:
            labels = self._models
            key = (provider, labels(event.model), labels(event.response_model) or None)
            token_attrs = self._token_attrs.get(key)
            if token_attrs is None:
                token_attrs = self._cached(self._token_attrs, key, token_attributes(*key))
            self._record_tokens(usage.input, token_attrs[0])
            self._record_tokens(usage.output, token_attrs[1])
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
        if provider is not None:
            attrs["gen_ai.provider.name"] = provider
        if event.response_model:
            attrs["gen_ai.response.model"] = event.response_model[:MAX_LABEL]
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.input
            attrs["gen_ai.usage.output_tokens"] = usage.output
            if self._latest:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cache_hit
        if event.error_type is not None:
            attrs["error.type"] = event.error_type
            span.set_status(self._error)
        span.set_attributes(attrs)
        span.end()

    # -- attempt spans

    def on_attempt_started(self, event: AttemptStarted) -> None:
        state = self._open.get(event.request_id)
        if state is None:
            return
        key = (event.provider, event.model[:MAX_LABEL], event.attempt, event.server_address)
        start = self._attempt_start.get(key)
        if start is None:
            start = self._cached(self._attempt_start, key, attempt_start(*key))
        context = state.context
        if context is None:
            context = state.context = self._in_context(state.span)
        state.attempts += 1
        state.attempt = self._start_span(start[0], context, self._client, start[1])

    def on_attempt_finished(self, event: AttemptFinished) -> None:
        outcome = event.outcome
        state = self._open.get(event.request_id)
        if outcome == "skipped":
            if state is not None:
                state.span.add_event(
                    "deepseek_resilient.skipped",
                    {"gen_ai.provider.name": event.provider, "error.type": event.error_type or ""},
                )
            return
        error_type = event.error_type
        if state is not None and state.attempt is not None:
            span, state.attempt = state.attempt, None
            if outcome != "ok":
                attrs: dict[str, Any] = {"deepseek_resilient.outcome": outcome}
                if error_type is not None:
                    attrs["error.type"] = error_type
                    span.set_status(self._error)
                if event.status_code is not None:
                    attrs["http.response.status_code"] = event.status_code
                span.set_attributes(attrs)
            span.end()
        if outcome == "cancelled":
            return
        key = (event.provider, self._models(event.model), event.server_address, error_type)
        duration_attrs = self._duration_attrs.get(key)
        if duration_attrs is None:
            duration_attrs = self._cached(self._duration_attrs, key, duration_attributes(*key))
        self._record_duration(event.latency, duration_attrs)

    @staticmethod
    def _cached(cache: dict[Any, Any], key: Any, value: Any) -> Any:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = value
        return value

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
