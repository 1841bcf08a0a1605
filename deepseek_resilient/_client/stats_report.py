"""What ``client.stats()`` returns: frozen snapshots, as dicts or as a text table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ClientStats", "ProviderStats"]


@dataclass(frozen=True)
class ProviderStats:
    """One provider's figures. ``attempts`` counts tries that reached it (``skipped`` ones,
    refused by its breaker or rate limiter, apart); ``error_rate`` is failures / (successes +
    failures), a stream that broke after its first content counting as a failure; latencies
    are per attempt (to the first content, for a stream), in seconds (None: no sample in the
    window)."""

    name: str
    attempts: int
    successes: int
    failures: Mapping[str, int]
    cancelled: int
    skipped: int
    error_rate: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None
    breaker: str
    retries: int
    failovers: int
    """Times a request left this provider for the next one."""
    answered: int
    """Requests this provider answered."""
    tokens_in: int
    tokens_out: int
    cache_hit_tokens: int


@dataclass(frozen=True)
class ClientStats:
    """The client's figures: requests end to end (``latency_*`` is the whole request:
    retries, failovers and all), and ``providers`` by name. ``fallback_rate``: the share of
    answered requests that a provider other than the first one answered."""

    requests: int
    successes: int
    failures: Mapping[str, int]
    cancelled: int
    error_rate: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None
    retries: int
    failovers: int
    fallback_rate: float
    cache_hits: int
    cache_misses: int
    cache_stale: int
    coalesced: int
    tokens_in: int
    tokens_out: int
    cache_hit_tokens: int
    window: float
    providers: Mapping[str, ProviderStats]

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and numbers (JSON-ready)."""
        return asdict(self)

    def table(self) -> str:
        """A fixed-width text table: one row per provider, then the whole client."""
        header = (
            "",
            "reqs",
            "ok",
            "errors",
            "err%",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "ttft p50",
            "breaker",
            "retries",
            "failovers",
            "tokens in/out",
        )
        rows: list[tuple[str, ...]] = [header]
        for p in self.providers.values():
            rows.append(
                (
                    p.name,
                    str(p.attempts),
                    str(p.successes),
                    str(sum(p.failures.values())),
                    _pct(p.error_rate),
                    _ms(p.latency_p50),
                    _ms(p.latency_p95),
                    _ms(p.latency_p99),
                    _ms(p.ttft_p50),
                    p.breaker,
                    str(p.retries),
                    str(p.failovers),
                    f"{p.tokens_in}/{p.tokens_out}",
                )
            )
        rows.append(
            (
                "(all)",
                str(self.requests),
                str(self.successes),
                str(sum(self.failures.values())),
                _pct(self.error_rate),
                _ms(self.latency_p50),
                _ms(self.latency_p95),
                _ms(self.latency_p99),
                _ms(self.ttft_p50),
                "-",
                str(self.retries),
                str(self.failovers),
                f"{self.tokens_in}/{self.tokens_out}",
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.append(
            f"cache: {self.cache_hits} hit, {self.cache_misses} miss, {self.cache_stale} stale; "
            f"coalesced {self.coalesced}; fallback answered {_pct(self.fallback_rate)} %; "
            f"window {self.window:g} s"
        )
        return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}"
