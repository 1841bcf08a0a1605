"""The rate limiter's side of a shared admission: one caller's request (``Ask``) and the
script's reply, read as untrusted input (``parse_limit``, ``breaker_first``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .._policies.rate_limit.layer import Priority
from . import admission
from ._values import Garbage, finite

if TYPE_CHECKING:
    from ._link import RedisLink

__all__ = ["MAX_PEERS", "Ask", "breaker_first", "parse_limit", "refusal"]

#: The most clients counted as sharing one limit (a flooded peer set cannot shrink the
#: fallback share below 1/MAX_PEERS).
MAX_PEERS = 4096


class Ask:
    """One caller's admission request, as the shared script needs it."""

    __slots__ = ("hold_for", "max_wait", "owed", "priority", "started", "ticket", "tokens")

    def __init__(
        self,
        started: float,
        max_wait: float,
        priority: Priority,
        hold_for: float | None,
        tokens: int,
    ) -> None:
        self.started, self.max_wait, self.priority = started, max_wait, priority
        self.hold_for, self.tokens = hold_for, tokens
        self.owed: list[float] = []
        #: The breaker's admission, made by our first script (see ``.admission``).
        self.ticket: admission.Ticket | None = None

    def left(self) -> float:
        return max(0.0, self.max_wait - (time.monotonic() - self.started))


def breaker_first(reply: Any, ticket: admission.Ticket | None) -> Any:
    """``ADMIT``'s reply: the breaker's part taken (raising its ``CircuitOpenError`` when it
    refused), the limit's part returned (None: Redis unusable)."""
    pair = isinstance(reply, list) and len(reply) == 2
    if ticket is not None and not ticket.settled:
        ticket.settled = True
        ticket.breaker.apply(reply[0] if pair else None)
    if pair:
        return reply[1]
    return reply  # None, or garbage (refused by the parser)


def refusal(wait_ms: float) -> str:
    if wait_ms < 0:
        return "no shared concurrency slot free"
    return f"shared admission projected in {wait_ms / 1000.0:.2f}s, beyond max_wait"


def parse_limit(
    reply: Any, link: RedisLink, left_ms: float
) -> tuple[bool | None, float, int, float]:
    """(admitted, wait ms, peers, level fraction); admitted None when the reply is unusable."""
    if reply is None:  # the link already logged why
        return None, 0.0, 1, 1.0
    try:
        if not isinstance(reply, list) or len(reply) != 5:
            raise Garbage(f"rate-limit reply {reply!r:.60}")
        admitted = finite(reply[0]) == 1
        wait = finite(reply[1], low=-1.0, high=3.6e9)
        if admitted and wait > left_ms + 1.0:
            raise Garbage(f"rate-limit wait {wait!r:.20} beyond max_wait")
        if reply[4] not in (0, b"0", "0"):
            link.repaired("rate limit", "out of bounds")
        peers = int(finite(reply[2], low=1.0, high=MAX_PEERS))
        return admitted, wait, peers, finite(reply[3], low=-60.0, high=1.0)
    except Exception as exc:  # any reply we cannot read: Redis is unusable for now
        link.failed("rate limit", exc if isinstance(exc, Garbage) else Garbage(repr(exc)))
        return None, 0.0, 1, 1.0
