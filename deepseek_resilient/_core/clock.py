"""Time as a seam: the real clock, and the protocol a fake clock implements in tests."""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "MonotonicClock", "TimeSource", "WallClock"]


class TimeSource(Protocol):
    """Time that is only read (the cache's entry ages)."""

    def now(self) -> float:
        """Seconds."""
        ...


class Clock(TimeSource, Protocol):
    """What the policies need of time: read it, and wait."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; cancellable."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``anyio.sleep``."""

    #: ``time.monotonic`` itself: no Python frame per read (the pipeline reads it often).
    now = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def __repr__(self) -> str:
        return "MonotonicClock()"


class WallClock:
    """``time.time`` as a :class:`TimeSource`: cache entries outlive the process and the boot, so
    their age must be measured on the wall clock, not a monotonic one."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "WallClock()"
