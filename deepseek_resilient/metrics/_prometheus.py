"""``PrometheusMetrics``: a hook that exports the client's events as prometheus-client series.

====================================================  =========  ==============================
series                                                type       labels
====================================================  =========  ==============================
``gen_ai_client_operation_duration_seconds``          histogram  ``gen_ai_operation_name``,
                                                                 ``gen_ai_provider_name``,
                                                                 ``gen_ai_request_model``,
                                                                 ``error_type`` (empty: ok)
``gen_ai_client_token_usage``                         histogram  the first three above and
                                                                 ``gen_ai_token_type``
``deepseek_resilient_attempts_total``                 counter    ``provider``, ``outcome``
``deepseek_resilient_failovers_total``                counter    ``from_provider``,
                                                                 ``to_provider``
``deepseek_resilient_breaker_state``                  gauge      ``provider`` (0 closed,
                                                                 1 half-open, 2 open)
``deepseek_resilient_cache_lookups_total``            counter    ``result``
``deepseek_resilient_retries_total``                  counter    ``provider``
``deepseek_resilient_time_to_first_token_seconds``    histogram  ``provider``
====================================================  =========  ==============================

One operation is one attempt at one provider (its latency is what a provider's P99 means);
tokens are recorded once per answered request, against the provider that answered.

``gen_ai_request_model`` is bounded: a model the clients' providers are configured with (or a
DeepSeek model, or one passed as ``models=``) is its own value, any other name a caller sends is
``"other"``, so a stream of distinct ``model=`` values cannot grow the series without end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._core.events import (
    AttemptFinished,
    BreakerStateChanged,
    CacheLookup,
    Failover,
    RequestFinished,
    RetryScheduled,
    StreamCommitted,
)
from ._conventions import (
    DURATION_BUCKETS,
    OPERATION,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    ModelLabels,
    require,
)

__all__ = ["BREAKER_STATES", "PrometheusMetrics"]

#: The value of ``deepseek_resilient_breaker_state`` per state.
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class PrometheusMetrics:
    """Export to a prometheus-client ``registry`` (default: the global ``REGISTRY``).

    Create one per registry and share it between clients (``hooks=[metrics]``): a second
    one on the same registry is refused by prometheus-client (duplicated series). Serve the
    registry as usual (``prometheus_client.start_http_server``, or your framework's
    ``/metrics``). ``models``: model names kept as label values besides the providers'
    (see the module's docstring)."""

    def __init__(self, registry: Any = None, *, models: Iterable[str] = ()) -> None:
        prom = require("prometheus_client", "metrics", "PrometheusMetrics")
        reg = registry if registry is not None else prom.REGISTRY
        gen_ai = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]
        self.registry = reg
        self._models = ModelLabels(models)
        self._duration = prom.Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration: one attempt at one provider.",
            [*gen_ai, "error_type"],
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self._tokens = prom.Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per answered request (input: prompt, output: completion).",
            [*gen_ai, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=reg,
        )
        self._attempts = prom.Counter(
            "deepseek_resilient_attempts",
            "Attempts per provider by outcome (ok, error, cancelled, skipped).",
            ["provider", "outcome"],
            registry=reg,
        )
        self._failovers = prom.Counter(
            "deepseek_resilient_failovers",
            "Requests handed from one provider to the next.",
            ["from_provider", "to_provider"],
            registry=reg,
        )
        self._breaker = prom.Gauge(
            "deepseek_resilient_breaker_state",
            "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=reg,
        )
        self._cache = prom.Counter(
            "deepseek_resilient_cache_lookups",
            "Cache lookups by result (hit, miss, stale).",
            ["result"],
            registry=reg,
        )
        self._retries = prom.Counter(
            "deepseek_resilient_retries",
            "Retries scheduled per provider.",
            ["provider"],
            registry=reg,
        )
        self._ttft = prom.Histogram(
            "deepseek_resilient_time_to_first_token_seconds",
            "Time from the request's start to a stream's first content.",
            ["provider"],
            buckets=TTFT_BUCKETS,
            registry=reg,
        )
        # label values -> child series: the hot path skips prometheus-client's label checks
        self._children: dict[tuple[Any, ...], Any] = {}
        self._seen: set[str] = set()
        # (provider, model, outcome, error type) -> (attempts child, duration child or None)
        self._attempt_series: dict[tuple[str, str, str, str | None], tuple[Any, Any]] = {}
        # (provider, model) -> (input tokens child, output tokens child)
        self._token_series: dict[tuple[str, str], tuple[Any, Any]] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _see(self, provider: str) -> None:
        if provider not in self._seen:
            self._seen.add(provider)
            self._child(self._breaker, provider)  # 0: closed until told otherwise

    def allow_models(self, models: Iterable[str]) -> None:
        """Keep ``models`` as ``gen_ai_request_model`` values of their own (each client calls
        this with its providers' models)."""
        self._models.allow(models)

    # -- hook methods

    def on_attempt_finished(self, event: AttemptFinished) -> None:
        key = (event.provider, self._models(event.model), event.outcome, event.error_type)
        series = self._attempt_series.get(key)
        if series is None:
            series = self._attempt_series[key] = self._attempt_children(*key)
        series[0].inc()
        if series[1] is not None:
            series[1].observe(event.latency)

    def _attempt_children(
        self, provider: str, model: str, outcome: str, error_type: str | None
    ) -> tuple[Any, Any]:
        self._see(provider)
        attempts = self._child(self._attempts, provider, outcome)
        if outcome not in ("ok", "error"):
            return attempts, None
        return attempts, self._child(self._duration, OPERATION, provider, model, error_type or "")

    def on_request_finished(self, event: RequestFinished) -> None:
        usage, provider = event.usage, event.provider
        if usage is None or provider is None:
            return
        key = (provider, self._models(event.model))
        series = self._token_series.get(key)
        if series is None:
            tokens = self._tokens
            series = self._token_series[key] = (
                self._child(tokens, OPERATION, provider, key[1], "input"),
                self._child(tokens, OPERATION, provider, key[1], "output"),
            )
        series[0].observe(usage.input)
        series[1].observe(usage.output)

    def on_failover(self, event: Failover) -> None:
        self._child(self._failovers, event.from_provider, event.to_provider).inc()

    def on_breaker_state_changed(self, event: BreakerStateChanged) -> None:
        self._seen.add(event.provider)
        self._child(self._breaker, event.provider).set(BREAKER_STATES[event.new])

    def on_cache_lookup(self, event: CacheLookup) -> None:
        self._child(self._cache, event.result).inc()

    def on_retry_scheduled(self, event: RetryScheduled) -> None:
        self._child(self._retries, event.provider).inc()

    def on_stream_committed(self, event: StreamCommitted) -> None:
        self._child(self._ttft, event.provider).observe(event.ttft)

    def __repr__(self) -> str:
        return f"PrometheusMetrics(registry={type(self.registry).__name__})"
