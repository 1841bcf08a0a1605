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

__all__ = ["ABANDONED_FACTOR", "DECAY", "PENALTY", "PeakEwma"]

#: Seconds over which an old latency weighs 1/e as much (Linkerd and Finagle use 10 s).
DECAY = 10.0
#: An abandoned attempt's latency estimate, as a multiple of the time it ran: a request
#: past the p95 of a heavy-tailed latency takes about twice as long as it has run so far.
ABANDONED_FACTOR = 4.0
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
        if self._stamp is None or rtt > self.cost(now):
            self._cost = rtt  # the first sample; or the peak: a slower answer takes over
        else:
            w = math.exp(-max(0.0, now - self._stamp) / self.decay)
            self._cost = self._cost * w + rtt * (1.0 - w)
        self._stamp = now

    def raise_to(self, now: float, elapsed: float) -> None:
        """An attempt abandoned after ``elapsed`` seconds (a hedge won the race): its real
        latency is unknown but longer. It counts as ``ABANDONED_FACTOR`` x ``elapsed`` when
        that is above the cost (never lowering it): otherwise a member whose slow requests
        are always hedged would never show how slow they are, and keep its traffic."""
        estimate = ABANDONED_FACTOR * elapsed
        if estimate > self.cost(now):
            self._cost = estimate
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
