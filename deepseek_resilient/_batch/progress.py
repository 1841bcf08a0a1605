"""What a batch run reports: ``BatchProgress`` while it runs, ``BatchSummary`` at the end."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["BatchProgress", "BatchSummary", "Tally"]


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot, passed to ``batch(on_progress=...)``: counts so far in this run."""

    total: int
    """Request lines in the input (those already done by an earlier run included)."""
    skipped: int
    """Lines already in the results file (resumed), not sent again."""
    done: int
    """Lines answered in this run."""
    failed: int
    """Lines written as failures in this run."""
    in_flight: int
    elapsed: float
    tokens: int
    """Total tokens of the answers in this run (``usage.total_tokens``)."""

    @property
    def finished(self) -> int:
        return self.skipped + self.done + self.failed

    @property
    def requests_per_second(self) -> float:
        return (self.done + self.failed) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before the first result)."""
        rate = self.requests_per_second
        return (self.total - self.finished) / rate if rate > 0 else None

    def line(self) -> str:
        eta = "-" if self.eta is None else f"{self.eta:.0f}s"
        return (
            f"{self.finished}/{self.total} done, {self.failed} failed, {self.in_flight} in "
            f"flight, {self.requests_per_second:.1f} req/s, {self.tokens} tokens, ETA {eta}"
        )


@dataclass(frozen=True)
class BatchSummary(BatchProgress):
    """The end of a run; ``errors`` counts the failed lines by error type."""

    errors: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        by_type = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"batch finished: {self.done} answered, {self.failed} failed ({by_type}), "
            f"{self.skipped} already done, of {self.total}, in {self.elapsed:.1f} s "
            f"({self.requests_per_second:.1f} req/s, {self.tokens} tokens)"
        )


@dataclass
class Tally:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    errors: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> BatchProgress:
        return BatchProgress(
            self.total,
            self.skipped,
            self.done,
            self.failed,
            self.in_flight,
            time.monotonic() - self.started,
            self.tokens,
        )

    def summary(self) -> BatchSummary:
        p = self.snapshot()
        return BatchSummary(
            p.total, p.skipped, p.done, p.failed, 0, p.elapsed, p.tokens, dict(self.errors)
        )
