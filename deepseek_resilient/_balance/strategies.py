"""How a tier picks the member for a request, and in which order the others follow when it
fails. Each strategy sees only the members that may be tried now (breaker closed, request
fits) as positions in the tier, and returns them all, the pick first.

- ``weighted``: smooth weighted round-robin, nginx's algorithm: every pick adds each
  member's weight to its running score, takes the highest and subtracts the total from it,
  so weights 5/3/2 give exactly 5, 3 and 2 picks in every 10, interleaved (a a b a c a b a
  c b rather than a a a a a b b b c c).
- ``round_robin``: each member in turn.
- ``least_busy``: power of two choices on requests in flight: two members drawn at random,
  the one with fewer in flight wins (herd-free, unlike "always the least busy").
- ``least_latency``: power of two choices on peak-EWMA latency x (in flight + 1), as
  Finagle and Linkerd do it.

After the pick, the others follow by the same measure (weight, turn, in flight, load).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal, Protocol

from .ewma import PeakEwma

__all__ = ["STRATEGIES", "Balancer", "InFlightStore", "Strategy", "balancer_for"]

Strategy = Literal["weighted", "round_robin", "least_busy", "least_latency"]
STRATEGIES: tuple[Strategy, ...] = ("weighted", "round_robin", "least_busy", "least_latency")


class InFlightStore(Protocol):
    """Requests in flight per member shared with other processes (``RedisState``)."""

    counts: list[int] | None

    def started(self, member: int) -> None: ...

    def finished(self, member: int) -> None: ...

    async def refresh(self) -> list[int] | None: ...


class Balancer:
    """The members' load (requests in flight, peak-EWMA latency) and the base of the
    strategies. ``order`` returns the members to try, the pick first."""

    name: Strategy

    def __init__(self, size: int, rng: random.Random) -> None:
        self.members = [PeakEwma() for _ in range(size)]
        self.picks = [0] * size
        self.rng = rng
        #: In-flight counts shared across processes (least_busy on ``RedisState``).
        self.shared: InFlightStore | None = None

    def order(self, eligible: Sequence[int], now: float) -> list[int]:
        if not eligible:
            return []
        ordered = self._order(list(eligible), now)
        self.picks[ordered[0]] += 1
        return ordered

    def _order(self, eligible: list[int], now: float) -> list[int]:  # pragma: no cover
        raise NotImplementedError

    def started(self, member: int) -> None:
        self.members[member].pending += 1
        if self.shared is not None:
            self.shared.started(member)

    def finished(self, member: int) -> None:
        m = self.members[member]
        m.pending = max(0, m.pending - 1)
        if self.shared is not None:
            self.shared.finished(member)

    def observe(self, member: int, now: float, latency: float) -> None:
        """A member answered (or failed) after ``latency`` seconds."""
        self.members[member].observe(now, latency)

    def abandoned(self, member: int, now: float, elapsed: float) -> None:
        """An attempt at a member was cancelled after ``elapsed`` seconds (a hedge lost)."""
        self.members[member].raise_to(now, elapsed)

    def _p2c(self, eligible: list[int], key: list[float]) -> list[int]:
        """Power of two choices on ``key`` (lower wins), then the rest by ``key``."""
        if len(eligible) >= 2:
            a, b = self.rng.sample(eligible, 2)
            first = a if key[a] <= key[b] else b
        else:
            first = eligible[0]
        rest = sorted((i for i in eligible if i != first), key=lambda i: key[i])
        return [first, *rest]


class Weighted(Balancer):
    name: Strategy = "weighted"

    def __init__(self, size: int, rng: random.Random, weights: Sequence[float]) -> None:
        super().__init__(size, rng)
        self.weights = list(weights)
        self.current = [0.0] * size

    def _order(self, eligible: list[int], now: float) -> list[int]:
        total = 0.0
        for i in eligible:
            self.current[i] += self.weights[i]
            total += self.weights[i]
        best = max(eligible, key=lambda i: self.current[i])  # first of equals: stable
        self.current[best] -= total
        rest = sorted((i for i in eligible if i != best), key=lambda i: -self.weights[i])
        return [best, *rest]


class RoundRobin(Balancer):
    name: Strategy = "round_robin"

    def __init__(self, size: int, rng: random.Random) -> None:
        super().__init__(size, rng)
        self.next = 0

    def _order(self, eligible: list[int], now: float) -> list[int]:
        n = len(self.members)
        ordered = sorted(eligible, key=lambda i: (i - self.next) % n)
        self.next = (ordered[0] + 1) % n
        return ordered


class LeastBusy(Balancer):
    name: Strategy = "least_busy"

    def _order(self, eligible: list[int], now: float) -> list[int]:
        shared = self.shared.counts if self.shared is not None else None
        if shared is not None:  # every process's requests (this one's included)
            return self._p2c(eligible, [float(n) for n in shared])
        return self._p2c(eligible, [float(m.pending) for m in self.members])


class LeastLatency(Balancer):
    name: Strategy = "least_latency"

    def _order(self, eligible: list[int], now: float) -> list[int]:
        return self._p2c(eligible, [m.load(now) for m in self.members])


def balancer_for(
    strategy: Strategy, size: int, weights: Sequence[float] | None, rng: random.Random
) -> Balancer:
    if strategy == "weighted":
        return Weighted(size, rng, weights if weights is not None else [1.0] * size)
    if strategy == "round_robin":
        return RoundRobin(size, rng)
    if strategy == "least_busy":
        return LeastBusy(size, rng)
    return LeastLatency(size, rng)
