"""A provider's breaker whose state lives in Redis.

What is shared: the state (``closed`` / ``open`` / ``half-open``, pybreaker's names), when the
open period ends, how many probes failed in a row (so the doubling schedule is shared), the
one half-open probe, and a failure window of the whole fleet: every process adds its
failures to it (and its successes while it holds failures), and reaching the failure rate
there opens the breaker for every process, so a fleet sends a dead provider about
``min_calls`` calls (plus those already in flight), not ``min_calls`` per process. Each
process also keeps its own window (it still trips on what it alone saw) and its listeners.

Each admission is one Lua round trip that reads the state and, when the open period is over,
claims the probe atomically: exactly one caller in the whole cluster probes. Trips, closes
and freed probes are written in the background right after the outcome. The schedule and
window logic are ``ProviderBreaker``'s, unchanged; while Redis is unusable it is the breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .._core.clock import Clock
from .._core.config import CircuitBreaker
from .._core.errors import CircuitOpenError, ProviderError
from .._policies.breaker import ProviderBreaker
from . import _lua, admission
from ._link import RedisLink
from ._values import Garbage, finite, text

__all__ = ["SharedBreaker"]

_KINDS = frozenset({"closed", "hold", "open", "busy", "probe"})


class SharedBreaker(ProviderBreaker):
    """The ``BreakerStore`` of one provider on Redis (see the module docstring)."""

    def __init__(
        self,
        provider: str,
        config: CircuitBreaker,
        clock: Clock,
        link: RedisLink,
        listeners: Sequence[Any] = (),
    ) -> None:
        super().__init__(provider, config, clock, listeners)
        self._link = link
        self._key = [link.key("cb", provider)]
        self._probe_ms = repr(config.probe_timeout * 1000.0)
        #: The longest open period anyone may have written: a longer one read from Redis is
        #: cut to it (``max_open_for``, or ``auth_open_for`` after a 401/402/403).
        self._cap = max(config.max_open_for, config.open_for)
        #: ``BREAKER_ADMIT``'s arguments (also sent in the rate limiter's fused script).
        self.admit_args = [
            self._probe_ms,
            repr(self._cap * 1000.0),
            repr(max(self._cap, config.auth_open_for) * 1000.0),
            str(min(config.min_calls, config.window)),
            repr(config.failure_rate),
        ]
        self._own_probe = False
        self._fleet_fails = 0  # failures in the fleet's window, as last seen
        self._counted = 0  # calls admitted while the fleet's window held failures, not ended
        self._pending: asyncio.Task[None] | None = None  # this breaker's last write

    async def admit(self, *, with_limiter: bool = False) -> None:
        refused = self.refusal()  # an open period this process knows of: no round trip
        if refused is not None:
            admission.defer(None)
            raise refused
        if not self._link.up:
            admission.defer(None)
            self.before_call()
            return
        if with_limiter and self.state == "closed":  # (a probe is never left to wait)
            admission.defer(self)  # the rate limiter's round trip checks this breaker first
            return
        admission.defer(None)
        await self.settle_writes()
        reply = await self._link.run(
            "breaker", self._link.call(_lua.BREAKER_ADMIT, self._key, self.admit_args)
        )
        self.apply(reply)

    async def settle_writes(self) -> None:
        """Wait (bounded) for this breaker's last write: it lands before the next admission."""
        pending = self._pending
        if pending is not None and not pending.done():
            await asyncio.wait([pending], timeout=self._link.op_timeout)

    def apply(self, reply: Any) -> None:
        """Take ``BREAKER_ADMIT``'s reply (None: Redis unusable, in-process admission):
        return when admitted, else raise the ``CircuitOpenError``."""
        parsed = self._parse(reply) if reply is not None else None
        if parsed is None:
            self.before_call()
            return
        kind, seconds, reopens = parsed
        now = self._clock.now()
        if kind in ("closed", "hold"):
            if self.state != "closed":  # another process closed it
                super()._close()
            if kind == "closed" and self._fleet_fails:
                self._counted += 1  # the script counted this call out
            if kind == "hold":
                raise CircuitOpenError(
                    "failing across the fleet: the calls already out decide (shared)",
                    provider=self.provider,
                    retry_in=None,
                )
            return
        self._reopens = reopens
        if kind == "probe":
            if self.state != "half-open":
                self._cb.half_open()
            self._probe_since = now
            self._own_probe = True
            return
        self._probe_since = None
        if kind == "open":
            self._open_until = now + seconds
            if self.state != "open":
                self._cb.open()
            raise CircuitOpenError(
                f"circuit open for another {seconds:.1f}s (shared)",
                provider=self.provider,
                retry_in=seconds,
            )
        if self.state != "half-open":
            self._cb.half_open()
        self._open_until = None
        raise CircuitOpenError(
            "circuit half-open and its probe is in flight (shared)",
            provider=self.provider,
            retry_in=None,
        )

    def _parse(self, reply: Any) -> tuple[str, float, int] | None:
        try:
            if not isinstance(reply, list) or len(reply) != 5:
                raise Garbage(f"breaker reply {reply!r:.60}")
            kind = text(reply[0])
            if kind not in _KINDS:
                raise Garbage(f"breaker state {kind!r:.30}")
            longest = max(self._cap, self.config.auth_open_for, self.config.probe_timeout)
            seconds = finite(reply[1], low=0.0, high=longest * 1000.0) / 1000.0
            reopens = int(finite(reply[2], low=0.0, high=64.0))
            self._fleet_fails = int(finite(reply[3], low=0.0, high=1e6))
            if reply[4] not in (0, b"0", "0"):
                self._link.repaired("breaker", f"{self.provider}: out of bounds")
            return kind, seconds, reopens
        except Exception as exc:  # any reply we cannot read: Redis is unusable for now
            self._link.failed("breaker", exc if isinstance(exc, Garbage) else Garbage(repr(exc)))
            return None

    def record_success(self, latency: float) -> None:
        if admission.unadmitted(self):
            return
        closed = self.state == "closed"
        super().record_success(latency)
        if closed and self.state == "closed" and (self._fleet_fails or self._counted):
            self._record("0")  # the fleet's window holds failures: this success counts too

    def _failed(self, error: ProviderError) -> None:
        closed = self.state == "closed"
        super()._failed(error)
        if closed and self.state == "closed":  # not tripped here: count it for the fleet
            self._fleet_fails += 1
            self._record("1")
        elif self._counted:
            self._record("-")

    def _record(self, outcome: str) -> None:
        """Add an outcome to the fleet's window (it trips the breaker for every process
        when the failure rate is reached there)."""
        cfg = self.config
        counted = "1" if self._counted else "0"
        self._counted = max(0, self._counted - 1)
        args = [
            outcome,
            str(cfg.window),
            str(min(cfg.min_calls, cfg.window)),
            repr(cfg.failure_rate),
            repr(cfg.open_for * 1000.0),
            counted,
        ]
        record = self._link.call(_lua.BREAKER_RECORD, self._key, args)
        self._pending = self._link.spawn("breaker record", record)

    def record_failure(self, error: ProviderError) -> None:
        if admission.unadmitted(self):
            return  # refused by the rate limiter before this breaker admitted it
        super().record_failure(error)

    def record_neutral(self) -> None:
        if admission.unadmitted(self):
            return
        if self._counted:
            self._record("-")
        if self.state == "half-open" and self._own_probe:
            self._own_probe = False
            self._write("free")
        super().record_neutral()

    def _trip(self, period: float) -> None:
        super()._trip(period)
        self._own_probe = False
        auth = "1" if period > self._cap else "0"
        self._write("open", repr(period * 1000.0), str(self._reopens), auth)

    def _close(self) -> None:
        super()._close()
        self._own_probe = False
        self._write("closed")

    def _write(self, *args: str) -> None:
        write = self._link.call(_lua.BREAKER_WRITE, self._key, [*args])
        self._pending = self._link.spawn("breaker write", write)

    def __repr__(self) -> str:
        return super().__repr__().replace("ProviderBreaker", "SharedBreaker", 1)
