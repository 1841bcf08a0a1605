"""Clocks for tests: time that moves only when told, and real time whose sleeps are skipped."""

from __future__ import annotations

import threading
import time

import anyio.lowlevel

__all__ = ["FakeClock", "InstantClock"]


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


class InstantClock:
    """Real time, but every ``sleep`` returns at once and moves this clock forward by the time
    it skipped: the testing mode of the ready-made test clients (in the spirit of stamina's
    ``set_testing``). Backoff and Retry-After waits cost nothing, while timeouts against a
    real server (a stall, a slow answer) still run on real time.

    ``sleeps`` records every sleep requested (``[2.0]`` after one ``Retry-After: 2``);
    ``skipped`` is their total. The skipped time is shared by everything on this clock, so
    concurrent requests see each other's skipped sleeps count against their deadlines.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.skipped += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"InstantClock(skipped={self.skipped:g})"
