"""How many batch requests to keep in flight.

Enough to keep the rate limiter fed, by Little's law on what is observed: the answer rate over
the last seconds times the time an answer takes upstream (the route's attempt latencies,
without the wait for the limiter), doubled, plus a margin. Not more: requests beyond that would
only queue inside the limiter, where every waiter costs work at each admission (measured: at
200 requests/s, 64 waiters reached 79 % of the limit on a loaded machine, 16 reached 100 %).
When nothing holds the requests back, the answer rate grows with the window, so the window
grows with it, up to ``limit``.
"""

from __future__ import annotations

import math
import time
from collections import deque

import anyio

__all__ = ["Window"]

_START = 8
_MARGIN = 8
_SPAN = 2.0  # seconds of answers the rate is measured over
_ALPHA = 0.1  # EWMA weight of the newest service time


class Window:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._service: float | None = None
        self._answers: deque[float] = deque()
        self._started = time.monotonic()
        self._freed = anyio.Event()

    def size(self) -> int:
        if self._service is None:
            return min(self.limit, _START)
        now = time.monotonic()
        while self._answers and self._answers[0] < now - _SPAN:
            self._answers.popleft()
        span = min(_SPAN, max(now - self._started, 1e-3))
        rate = len(self._answers) / span
        return max(1, min(self.limit, math.ceil(2 * rate * self._service) + _MARGIN))

    async def enter(self) -> None:
        """Wait until one more request may be in flight, and count it."""
        while self.in_flight >= self.size():
            if self._freed.is_set():
                self._freed = anyio.Event()
            await self._freed.wait()
        self.in_flight += 1

    def leave(self, service: float | None) -> None:
        """A request ended; ``service``: its time upstream (None: it failed)."""
        self.in_flight -= 1
        if service is not None:
            self._answers.append(time.monotonic())
            previous = self._service
            self._service = (
                service if previous is None else previous + _ALPHA * (service - previous)
            )
        self._freed.set()
