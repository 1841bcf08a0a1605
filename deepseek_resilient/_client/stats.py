"""``client.stats()``: counters and sliding-window percentiles, kept by a hook on the events.

Latencies go into a fixed ring of the most recent samples (``SAMPLES`` per series), and a
snapshot reads only those younger than ``WINDOW`` seconds: memory is bounded whatever the
traffic, recording is O(1), and a snapshot sorts at most ``SAMPLES`` numbers per series.
Percentiles are nearest-rank over the samples in the window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._core.clock import Clock
from .._core.events import (
    AttemptFinished,
    BreakerStateChanged,
    CacheLookup,
    Coalesced,
    Failover,
    RequestFinished,
    RetryScheduled,
    StreamCommitted,
    StreamIncomplete,
)

if TYPE_CHECKING:
    from .._policies.breaker import BreakerHealth
    from .stats_report import ClientStats, ProviderStats

__all__ = ["SAMPLES", "WINDOW", "LatencyWindow", "StatsHook"]

#: Samples kept per latency series (the most recent ones).
SAMPLES = 1024
#: Seconds of history a percentile looks at.
WINDOW = 300.0


class LatencyWindow:
    """The last ``size`` samples (time, value) in a ring; percentiles over those within
    ``window`` seconds of now."""

    __slots__ = ("_count", "_next", "_times", "_values", "size", "window")

    def __init__(self, size: int = SAMPLES, window: float = WINDOW) -> None:
        self.size = size
        self.window = window
        self._times = [0.0] * size
        self._values = [0.0] * size
        self._next = 0
        self._count = 0

    def add(self, now: float, value: float) -> None:
        i = self._next
        self._times[i] = now
        self._values[i] = value
        self._next = (i + 1) % self.size
        if self._count < self.size:
            self._count += 1

    def recent(self, now: float) -> list[float]:
        """The values recorded within the window, sorted."""
        cutoff = now - self.window
        n = self._count
        return sorted(
            v for t, v in zip(self._times[:n], self._values[:n], strict=True) if t >= cutoff
        )

    def percentiles(
        self, now: float, qs: Sequence[float] = (0.5, 0.95, 0.99)
    ) -> list[float | None]:
        values = self.recent(now)
        if not values:
            return [None for _ in qs]
        return [values[max(0, math.ceil(q * len(values)) - 1)] for q in qs]


# Counters, never compared or printed: plain slotted classes (``@dataclass`` would compile
# their ``__init__`` with ``exec`` at import).
class _Tokens:
    __slots__ = ("cache_hit", "input", "output")

    def __init__(self) -> None:
        self.input = 0
        self.output = 0
        self.cache_hit = 0


class _ProviderCounts:
    __slots__ = (
        "answered", "attempts", "breaker", "cancelled", "failovers", "failures", "latency",
        "retries", "skipped", "successes", "tokens", "ttft",
    )  # fmt: skip

    def __init__(self, latency: LatencyWindow, ttft: LatencyWindow) -> None:
        self.attempts = 0
        self.successes = 0
        self.failures: dict[str, int] = {}
        self.cancelled = 0
        self.skipped = 0
        self.retries = 0
        self.failovers = 0
        self.answered = 0
        self.breaker = "closed"
        self.tokens = _Tokens()
        self.latency = latency
        self.ttft = ttft


def _rate(bad: int, good: int) -> float:
    return bad / (bad + good) if bad + good else 0.0


class StatsHook:
    """The hook behind ``client.stats()`` (installed by the client; ``stats=False`` leaves
    it out). Runs on the client's event loop; ``snapshot`` is read there too."""

    def __init__(
        self,
        clock: Clock,
        chain: Sequence[str] = (),
        *,
        samples: int = SAMPLES,
        window: float = WINDOW,
    ) -> None:
        self._clock = clock
        self._chain = tuple(chain)
        self._samples = samples
        self._window = window
        self._providers: dict[str, _ProviderCounts] = {}
        self._first = self._chain[0] if self._chain else None
        self.requests = 0
        self.successes = 0
        self.failures: dict[str, int] = {}
        self.cancelled = 0
        self.retries = 0
        self.failovers = 0
        self.fallbacks = 0
        self.cache = {"hit": 0, "miss": 0, "stale": 0}
        self.coalesced = 0
        self.tokens = _Tokens()
        self.latency = LatencyWindow(samples, window)
        self.ttft = LatencyWindow(samples, window)

    def _provider(self, name: str) -> _ProviderCounts:
        counts = self._providers.get(name)
        if counts is None:
            counts = self._providers[name] = _ProviderCounts(
                latency=LatencyWindow(self._samples, self._window),
                ttft=LatencyWindow(self._samples, self._window),
            )
        return counts

    # -- hook methods

    def on_request_finished(self, event: RequestFinished) -> None:
        self.requests += 1
        self.latency.add(self._clock.now(), event.elapsed)
        if event.outcome == "ok":
            self.successes += 1
            who = event.provider
            if who is not None and who != "cache":
                self._provider(who).answered += 1
                if self._first is not None and who != self._first:
                    self.fallbacks += 1
        elif event.outcome == "error":
            kind = event.error_type or "Error"
            self.failures[kind] = self.failures.get(kind, 0) + 1
        else:
            self.cancelled += 1
        usage = event.usage
        if usage is not None:
            self.tokens.input += usage.input
            self.tokens.output += usage.output
            self.tokens.cache_hit += usage.cache_hit
            if event.provider is not None:
                tokens = self._provider(event.provider).tokens
                tokens.input += usage.input
                tokens.output += usage.output
                tokens.cache_hit += usage.cache_hit

    def on_attempt_finished(self, event: AttemptFinished) -> None:
        p = self._provider(event.provider)
        if event.outcome == "skipped":
            p.skipped += 1
            return
        p.attempts += 1
        if event.outcome == "ok":
            p.successes += 1
            p.latency.add(self._clock.now(), event.latency)
        elif event.outcome == "error":
            kind = event.error_type or "Error"
            p.failures[kind] = p.failures.get(kind, 0) + 1
            p.latency.add(self._clock.now(), event.latency)
        else:
            p.cancelled += 1

    def on_retry_scheduled(self, event: RetryScheduled) -> None:
        self.retries += 1
        self._provider(event.provider).retries += 1

    def on_failover(self, event: Failover) -> None:
        self.failovers += 1
        self._provider(event.from_provider).failovers += 1

    def on_breaker_state_changed(self, event: BreakerStateChanged) -> None:
        self._provider(event.provider).breaker = event.new

    def on_cache_lookup(self, event: CacheLookup) -> None:
        self.cache[event.result] += 1

    def on_coalesced(self, event: Coalesced) -> None:
        self.coalesced += 1

    def on_stream_committed(self, event: StreamCommitted) -> None:
        now = self._clock.now()
        self.ttft.add(now, event.ttft)
        self._provider(event.provider).ttft.add(now, event.ttft)

    def on_stream_incomplete(self, event: StreamIncomplete) -> None:
        # Its attempt counted as a success at the commit; it failed after all (as the
        # breaker also counts it).
        p = self._provider(event.provider)
        p.successes = max(0, p.successes - 1)
        p.failures[event.error_type] = p.failures.get(event.error_type, 0) + 1

    # -- reading

    def snapshot(self, health: Mapping[str, BreakerHealth] | None = None) -> ClientStats:
        """The figures now: a row per provider of the chain (in order), then any other seen.
        ``health``: the breakers' own states (they win over what the events said)."""
        from .stats_report import ClientStats, ProviderStats  # loaded by the first snapshot

        now = self._clock.now()
        providers = self._chain
        rows: dict[str, ProviderStats] = {}
        for name in [*providers, *(n for n in self._providers if n not in providers)]:
            p = self._provider(name)
            lat = p.latency.percentiles(now)
            ttft = p.ttft.percentiles(now)
            failed = sum(p.failures.values())
            breaker = health[name].state if health and name in health else p.breaker
            rows[name] = ProviderStats(
                name=name,
                attempts=p.attempts,
                successes=p.successes,
                failures=dict(p.failures),
                cancelled=p.cancelled,
                skipped=p.skipped,
                error_rate=_rate(failed, p.successes),
                latency_p50=lat[0],
                latency_p95=lat[1],
                latency_p99=lat[2],
                ttft_p50=ttft[0],
                ttft_p95=ttft[1],
                ttft_p99=ttft[2],
                breaker=breaker if health is None or name in health else "off",
                retries=p.retries,
                failovers=p.failovers,
                answered=p.answered,
                tokens_in=p.tokens.input,
                tokens_out=p.tokens.output,
                cache_hit_tokens=p.tokens.cache_hit,
            )
        lat = self.latency.percentiles(now)
        ttft = self.ttft.percentiles(now)
        failed = sum(self.failures.values())
        answered = sum(p.answered for p in self._providers.values())
        return ClientStats(
            requests=self.requests,
            successes=self.successes,
            failures=dict(self.failures),
            cancelled=self.cancelled,
            error_rate=_rate(failed, self.successes),
            latency_p50=lat[0],
            latency_p95=lat[1],
            latency_p99=lat[2],
            ttft_p50=ttft[0],
            ttft_p95=ttft[1],
            ttft_p99=ttft[2],
            retries=self.retries,
            failovers=self.failovers,
            fallback_rate=self.fallbacks / answered if answered else 0.0,
            cache_hits=self.cache["hit"],
            cache_misses=self.cache["miss"],
            cache_stale=self.cache["stale"],
            coalesced=self.coalesced,
            tokens_in=self.tokens.input,
            tokens_out=self.tokens.output,
            cache_hit_tokens=self.tokens.cache_hit,
            window=self._window,
            providers=rows,
        )
