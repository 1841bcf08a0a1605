"""Peak-EWMA latency per member, as Finagle and Linkerd balance on it.

A sample above the current cost replaces it at once (the *peak*: a member that slows down is
avoided from its first slow answer); a sample below it is averaged in with a weight that
decays with the time since the last sample (``exp(-dt / decay)``). Read between samples the
cost decays toward zero, so a member that was avoided is tried again after a while and its
new samples decide. The load a balancer compares is ``cost x (in flight + 1)``; a member
never measured costs nothing while idle (it gets probed) and a huge penalty while busy.
"""

from __future__ import annotations

import math

__all__ = ["DECAY", "PENALTY", "PeakEwma"]

#: Seconds over which an old latency weighs 1/e as much (Linkerd and Finagle use 10 s).
DECAY = 10.0
#: The load of a member with requests in flight and no latency measured yet.
PENALTY = 1e9


class PeakEwma:
    """One member's latency cost (seconds) and its requests in flight."""

    __slots__ = ("_cost", "_stamp", "decay", "pending")

    def __init__(self, decay: float = DECAY) -> None:
        self.decay = decay
        self._cost = 0.0
        self._stamp: float | None = None
        self.pending = 0

    @property
    def measured(self) -> bool:
        return self._stamp is not None

    def observe(self, now: float, rtt: float) -> None:
        """Add one latency sample taken at ``now``."""
        rtt = max(0.0, rtt)
        if self._stamp is None:
            self._cost = rtt
        else:
            cost = self.cost(now)
            if rtt > cost:
                self._cost = rtt  # the peak: a slower answer takes over at once
            else:
                w = math.exp(-max(0.0, now - self._stamp) / self.decay)
                self._cost = cost * w + rtt * (1.0 - w)
        self._stamp = now

    def raise_to(self, now: float, elapsed: float) -> None:
        """An attempt abandoned after ``elapsed`` seconds: it took at least that long, so
        the cost is raised to it when lower (and never lowered by it)."""
        if elapsed > self.cost(now):
            self._cost = elapsed
            self._stamp = now

    def cost(self, now: float) -> float:
        """The cost at ``now``: the last value decayed toward zero since the last sample."""
        if self._stamp is None:
            return 0.0
        return self._cost * math.exp(-max(0.0, now - self._stamp) / self.decay)

    def load(self, now: float) -> float:
        """What least_latency compares: cost x (in flight + 1)."""
        if self._stamp is None:
            return PENALTY + self.pending if self.pending else 0.0
        return self.cost(now) * (self.pending + 1)
