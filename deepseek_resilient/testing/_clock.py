"""A fake clock: time moves only when a test (or a sleeping policy) moves it."""

from __future__ import annotations

import threading

import anyio.lowlevel

__all__ = ["FakeClock"]


class FakeClock:
    """Implements the library's ``Clock``. ``sleep`` returns at once after advancing time,
    so backoff, breaker, rate-limit and TTL tests never really wait.

    ``sleeps`` records every sleep requested, for assertions on backoff."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward (never backward)."""
        if seconds < 0:
            raise ValueError("time never goes backward")
        with self._lock:
            self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"
