"""Requests in flight per member of a ``least_busy`` tier, shared on Redis (``RedisState``):
every process with the same Redis, namespace, tier name and member names sees the others'
requests when it picks a member.

One counter per member (``{<namespace>}:inflight:<tier>:<member>``): a request's start adds one
and its end takes one off, both written in the background (never on the request's path); a
tier reads all its counters in one ``MGET`` per request. A counter expires ``TTL`` seconds
after its last start, so a crashed process's requests stop counting after that. While Redis
is down the tier balances on this process's own counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._link import RedisLink

__all__ = ["TTL", "SharedInFlight", "in_flight_factory"]

#: Seconds a member's counter lives after its last start.
TTL = 600


class SharedInFlight:
    """The in-flight counters of one tier's members on Redis; ``counts`` the last read
    (None: not read yet, or Redis unavailable)."""

    def __init__(self, link: RedisLink, tier: str, members: Sequence[str]) -> None:
        self._link = link
        self._keys = [link.key("inflight", tier, m) for m in members]
        self._sent = [0] * len(members)  # starts written, not yet ended (what may be undone)
        self.counts: list[int] | None = None

    def started(self, member: int) -> None:
        if not self._link.up:
            return
        self._sent[member] += 1
        key = self._keys[member]
        self._link.spawn("in-flight count", self._link.command("INCR", key))
        self._link.spawn("in-flight count", self._link.command("EXPIRE", key, TTL))

    def finished(self, member: int) -> None:
        if self._sent[member] <= 0:
            return  # its start was never written (Redis was down)
        self._sent[member] -= 1
        self._link.spawn("in-flight count", self._link.command("DECR", self._keys[member]))

    async def refresh(self) -> list[int] | None:
        """Read every member's counter (one round trip); None when Redis is unavailable."""
        read = self._link.command("MGET", *self._keys)
        self.counts = _counts(await self._link.run("in-flight counts", read), len(self._keys))
        return self.counts


def _counts(reply: Any, size: int) -> list[int] | None:
    if not isinstance(reply, list) or len(reply) != size:
        return None
    out = []
    for value in reply:
        try:
            out.append(min(1_000_000, max(0, int(value))) if value is not None else 0)
        except (TypeError, ValueError):
            return None  # not a counter of ours
    return out


def in_flight_factory(store: object) -> Callable[[str, list[str]], SharedInFlight] | None:
    """Shared counters for ``store`` (a ``RedisStore``: it has a ``link``), else None."""
    link = getattr(store, "link", None)
    if link is None:
        return None
    return lambda tier, members: SharedInFlight(link, tier, members)
