"""The parts of a rate limiter: token buckets, queued waiters and the admission permit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio

if TYPE_CHECKING:
    from .limiter import ProviderRateLimiter

__all__ = ["Permit", "Priority"]

Priority = Literal["high", "normal", "low"]
_RANK: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
_EPS = 1e-9


class _Bucket:
    """A token bucket whose rate and capacity follow the limiter's AIMD factor."""

    __slots__ = ("base_capacity", "base_rate", "capacity", "level", "min_capacity", "rate", "stamp")

    def __init__(self, rate: float, capacity: float, now: float, *, min_capacity: float) -> None:
        self.base_rate = rate
        self.base_capacity = capacity
        self.min_capacity = min_capacity
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def hand_over(self, now: float, scale: float, fraction: float) -> float:
        """A shared store falling back to this bucket: its level becomes at most ``fraction``
        of this process's share (``base_capacity * scale``, below ``min_capacity`` too; a
        negative fraction is the shared bucket's debt, callers admitted ahead: at most 60
        shares); returns the deficit (share minus level) before that."""
        self.refill(now)
        share = self.base_capacity * scale
        deficit = max(0.0, share - self.level)
        self.level = min(self.level, share * min(1.0, max(-60.0, fraction)))
        return deficit

    def scale(self, factor: float) -> None:
        self.rate = self.base_rate * factor
        self.capacity = max(self.min_capacity, self.base_capacity * factor)
        self.level = min(self.level, self.capacity)


@dataclass(eq=False)
class _Waiter:
    rank: int
    seq: int
    tokens: int
    deadline: float
    arrived: float
    admitted: Permit | None = None
    shed: str | None = None
    eta: float | None = None  # projected admission; None: waiting for a concurrency slot
    scope: anyio.CancelScope | None = None
    wake_at: float = math.inf

    @property
    def done(self) -> bool:
        return self.admitted is not None or self.shed is not None


class Permit:
    """One admitted call. ``release`` it when the call ends (success, error or cancel)."""

    __slots__ = ("_limiter", "_released", "admitted_at", "tokens", "waited")

    def __init__(
        self,
        limiter: ProviderRateLimiter | None,
        tokens: int,
        *,
        admitted_at: float = 0.0,
        waited: float = 0.0,
    ) -> None:
        self._limiter = limiter
        self._released = limiter is None
        #: The token estimate debited at admission.
        self.tokens = tokens
        #: Clock time of admission, and seconds spent queued before it.
        self.admitted_at = admitted_at
        self.waited = waited

    def release(self, *, used_tokens: int | None = None) -> None:
        """Free the concurrency slot and correct the token estimate with ``used_tokens``
        (the real usage, when known). Idempotent."""
        if self._released:
            return
        self._released = True
        if self._limiter is not None:
            self._limiter._release(self, used_tokens)

    @property
    def released(self) -> bool:
        return self._released

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_NOOP_PERMIT = Permit(None, 0)


def _projected(
    needs: list[tuple[_Bucket, float, float]], levels: dict[int, float], now: float, t: float
) -> float:
    """When the buckets (at ``levels`` now, refilling) hold what ``needs`` asks, from ``t``."""
    eta = t
    for b, need, _ in needs:
        lvl = min(b.capacity, levels[id(b)] + (t - now) * b.rate)
        if lvl < need - _EPS:
            eta = max(eta, t + (need - lvl) / b.rate if b.rate > 0 else math.inf)
    return eta


def _shed_reason(w: _Waiter, slot_free: bool, eta: float, now: float) -> str | None:
    """Why a waiter that cannot be admitted now is refused at once, or None (it queues)."""
    if not slot_free and w.rank == 2:
        return "low priority and no concurrency slot free"
    if eta > w.deadline + _EPS:
        return f"admission projected in {eta - now:.2f}s, beyond max_wait"
    return None
