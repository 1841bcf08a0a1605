"""The operation timeout of a Redis link: adaptive, and blind to CPU stalls.

A CPU stall is not an outage. When eight workers start at once on two cores, an event loop
may not run for hundreds of milliseconds; a reply that arrived meanwhile is then processed
*after* a plain timeout has fired, and a healthy Redis looks dead. So:

* the timeout follows the observed latency (``srtt + 4 * rttvar``, as TCP's retransmission
  timer), never below ``floor`` nor above ``ceiling``; before the first answer it is the
  ceiling (the first operation also connects and loads scripts);
* the timer checks how late it fired: late by more than half its own length means this
  process did not run (a stall), so it waits once more instead of giving up (at most
  ``_MAX_EXTENSIONS`` times);
* the link declares Redis degraded only after ``strikes`` timeouts in a row (hysteresis): a
  single slow operation falls back for itself alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["OpTimer"]

_MAX_EXTENSIONS = 3
_STALL_SLACK = 0.05


class OpTimer:
    """The adaptive per-operation timeout of one link (see the module docstring)."""

    def __init__(self, floor: float, ceiling: float, *, strikes: int = 2) -> None:
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self.strikes = strikes
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._late = 0  # timeouts in a row
        #: Timer firings found late (a stalled loop) and extended: for tests and benchmarks.
        self.stalls = 0

    def timeout(self) -> float:
        if self._srtt is None:
            return self.ceiling
        return min(self.ceiling, max(self.floor, self._srtt + 4.0 * self._rttvar))

    def observe(self, latency: float) -> None:
        """An operation answered after ``latency`` seconds."""
        self._late = 0
        if self._srtt is None:
            self._srtt, self._rttvar = latency, latency / 2.0
            return
        self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - latency)
        self._srtt = 0.875 * self._srtt + 0.125 * latency

    def timed_out(self) -> bool:
        """An operation timed out: True when that makes ``strikes`` in a row (degraded)."""
        self._late += 1
        return self._late >= self.strikes

    @contextmanager
    def deadline(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that expires after ``timeout()`` seconds of this process running
        (``scope.cancelled_caught`` afterwards: it expired)."""
        loop = asyncio.get_running_loop()
        seconds = self.timeout()
        extensions = [0]
        handle: list[asyncio.TimerHandle] = []

        def expire(due: float) -> None:
            late = loop.time() - due
            if late > max(_STALL_SLACK, seconds / 2.0) and extensions[0] < _MAX_EXTENSIONS:
                extensions[0] += 1  # the loop did not run: give the reply a chance first
                self.stalls += 1
                handle[0] = loop.call_at(loop.time() + seconds, expire, loop.time() + seconds)
                return
            scope.cancel()

        with anyio.CancelScope() as scope:
            due = loop.time() + seconds
            handle.append(loop.call_at(due, expire, due))
            try:
                yield scope
            finally:
                handle[0].cancel()
