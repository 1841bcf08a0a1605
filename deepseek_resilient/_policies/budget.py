"""Retry budget (Finagle / gRPC style): retries may add at most ``ratio`` extra load on top of
the requests, plus a small floor, so a failure storm cannot multiply upstream traffic.

Each request deposits ``ratio`` tokens; each retry withdraws one. Deposits and withdrawals
expire after ``window`` seconds, and ``min_per_second * window`` tokens are always available
on top (the reserve), so a quiet client can still retry. Over any ``window``:

    retries <= ratio * requests + min_per_second * window

When ``try_spend`` says no, the caller fails over to the next provider instead of retrying.
"""

from __future__ import annotations

import math

from .._core.clock import Clock

__all__ = ["RetryBudget"]

_SLICES = 10
_EPS = 1e-9


class RetryBudget:
    """A token budget for retries, per provider (or shared). Synchronous and O(1)."""

    def __init__(
        self,
        clock: Clock,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
    ) -> None:
        for name, value in (("ratio", ratio), ("min_per_second", min_per_second)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"RetryBudget {name} must be finite and >= 0, got {value!r}")
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"RetryBudget window must be finite and > 0, got {window!r}")
        self._clock = clock
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.window = window
        self._reserve = min_per_second * window
        # A ring of time slices, each holding its net deposits; an entry lives between
        # window * (1 - 1/_SLICES) and window seconds, as in Finagle's WindowedAdder.
        self._slice = window / _SLICES
        self._ring = [0.0] * _SLICES
        self._epoch = math.floor(clock.now() / self._slice)  # index of the current slice
        self._sum = 0.0

    @property
    def balance(self) -> float:
        """Tokens available now (the reserve included)."""
        self._expire()
        return self._reserve + self._sum

    def on_request(self) -> None:
        """A request was sent (count first attempts only, never retries)."""
        self._add(self.ratio)

    def try_spend(self) -> bool:
        """Withdraw one token for a retry; False (and nothing withdrawn) when the budget is
        spent: fail over instead of retrying."""
        if self.balance >= 1.0 - _EPS:
            self._add(-1.0)
            return True
        return False

    def _add(self, amount: float) -> None:
        self._expire()
        self._ring[self._epoch % _SLICES] += amount
        self._sum += amount

    def _expire(self) -> None:
        epoch = math.floor(self._clock.now() / self._slice)
        if epoch <= self._epoch:
            return
        steps = min(epoch - self._epoch, _SLICES)
        for k in range(1, steps + 1):
            i = (self._epoch + k) % _SLICES
            self._sum -= self._ring[i]
            self._ring[i] = 0.0
        self._epoch = epoch
        if steps == _SLICES:
            self._sum = 0.0  # everything expired; also clears float drift

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, min_per_second={self.min_per_second}, "
            f"window={self.window}, balance={self.balance:.2f})"
        )
