"""Per-provider circuit breaker: a failure-RATE window over a small state holder.

The state (``closed`` / ``open`` / ``half-open``) lives in a ``_Circuit``: pybreaker's
``CircuitBreaker`` as far as this module uses it, driven only through ``open()``,
``half_open()`` and ``close()``, which notify its listeners. A real pybreaker breaker is built
instead when a pybreaker listener was passed (the deprecated ``breaker_listeners``): only then
is pybreaker imported, because importing it imports redis when installed, which costs about
as much as ``import deepseek_resilient``. What pybreaker lacks is added here:

* a count-based window of the last ``window`` outcomes; the breaker trips when at least
  ``min_calls`` calls are in the window and ``failures / calls >= failure_rate``;
* the open period runs on our ``Clock``: ``open_for``, doubled on each probe that fails,
  capped at ``max_open_for``; 401/402/403 open it for ``auth_open_for`` at once;
* exactly ONE probe in half-open; everyone else is refused until it reports back;
* neutral outcomes (cancellation, the caller's own bad request) count nothing.

Not thread-safe by design: use one breaker from one event loop (every method is synchronous
and does no I/O, so it is atomic between awaits).
"""

from __future__ import annotations

import functools
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from .._core.call import Answer, Call, Handler, Layer, Site, when_settled
from .._core.clock import Clock
from .._core.config import CircuitBreaker
from .._core.errors import (
    APITimeoutError,
    CircuitOpenError,
    DeadlineExceeded,
    ProviderError,
    RateLimitedLocally,
)
from .._core.hooks import BreakerListener
from .._core.lazy import LazyModule

if TYPE_CHECKING:
    import pybreaker

    from .._state.base import BreakerStore
else:
    pybreaker = LazyModule("pybreaker")  # imported for the first pybreaker listener passed

__all__ = ["BreakerHealth", "BreakerState", "ProviderBreaker", "breaker_layer"]

BreakerState = Literal["closed", "open", "half-open"]
_STATES = frozenset({"closed", "open", "half-open"})


@dataclass(frozen=True)
class BreakerHealth:
    """A snapshot of one provider's breaker, for routing decisions and metrics."""

    state: BreakerState
    failure_rate: float
    """Failures / calls over the current window (0.0 when empty)."""
    calls_in_window: int
    retry_in: float | None
    """Seconds until a probe may go (0.0: the next call is the probe); None when closed,
    or when a probe is already in flight."""
    trips: int
    """How many times this breaker has opened since it was created."""


class _Circuit:
    """The breaker's state, with pybreaker's ``CircuitBreaker`` interface as far as
    ``ProviderBreaker`` uses it: each change tells every listener ``state_change(circuit,
    old, new)`` (state names; our listener reads ``.name`` when there is one)."""

    __slots__ = ("current_state", "listeners", "name")

    def __init__(self, name: str, listeners: list[Any]) -> None:
        self.name = name
        self.listeners = listeners
        self.current_state: BreakerState = "closed"

    def open(self) -> None:
        self._to("open")

    def half_open(self) -> None:
        self._to("half-open")

    def close(self) -> None:
        self._to("closed")

    def _to(self, new: BreakerState) -> None:
        old, self.current_state = self.current_state, new
        for listener in self.listeners:
            listener.state_change(self, old, new)


class ProviderBreaker:
    """The breaker of one provider. Call ``before_call`` before each attempt, then exactly one
    of ``record_success`` / ``record_failure`` / ``record_neutral`` when the attempt ends."""

    def __init__(
        self,
        provider: str,
        config: CircuitBreaker,
        clock: Clock,
        listeners: Sequence[Any] = (),
    ) -> None:
        self.provider = provider
        self.config = config
        self._clock = clock
        self._cb: Any
        if all(isinstance(listener, BreakerListener) for listener in listeners):
            self._cb = _Circuit(provider, list(listeners))
        else:
            # A pybreaker listener gets pybreaker's own breaker. Its consecutive-failure trip
            # and timer are kept out of the way: we never route calls through it, and
            # fail_max is unreachable anyway.
            self._cb = pybreaker.CircuitBreaker(
                fail_max=sys.maxsize,
                reset_timeout=config.max_open_for,
                listeners=list(listeners),
                name=provider,
            )
        self._window: deque[bool] = deque(maxlen=config.window)  # True = failure
        self._min_calls = min(config.min_calls, config.window)
        self._open_until: float | None = None
        self._reopens = 0  # consecutive failed probes since the last close
        self._probe_since: float | None = None  # when the in-flight probe was admitted
        self._trips = 0

    # ------------------------------------------------------------------ queries

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half-open"``, as the circuit holds it."""
        state = self._cb.current_state
        if state not in _STATES:
            raise ValueError(f"unknown breaker state {state!r}")
        return cast(BreakerState, state)

    @property
    def circuit(self) -> Any:
        """The state holder: a ``_Circuit``, or pybreaker's breaker when a pybreaker listener
        was passed (``name``, ``listeners``, ``current_state``, ``open()``, ``half_open()``,
        ``close()`` on either)."""
        return self._cb

    def health(self) -> BreakerHealth:
        """A snapshot; no side effects."""
        state = self.state
        calls = len(self._window)
        failures = sum(self._window)
        retry_in: float | None = None
        if state == "open":
            retry_in = max(0.0, (self._open_until or 0.0) - self._clock.now())
        elif state == "half-open" and not self._probe_in_flight(self._clock.now()):
            retry_in = 0.0
        return BreakerHealth(
            state=state,
            failure_rate=failures / calls if calls else 0.0,
            calls_in_window=calls,
            retry_in=retry_in,
            trips=self._trips,
        )

    # ------------------------------------------------------------------ admission

    def refusal(self) -> CircuitOpenError | None:
        """The error any call gets now because the breaker is open and its period not over,
        or None. Admits nothing and changes nothing: the router's cheap pre-check."""
        if self._open_until is None or self.state != "open":
            return None
        left = self._open_until - self._clock.now()
        if left <= 0:
            return None
        return CircuitOpenError(
            f"circuit open for another {left:.1f}s", provider=self.provider, retry_in=left
        )

    def before_call(self) -> None:
        """Admit a call, or raise ``CircuitOpenError`` without any I/O.

        Open and its period over: this caller becomes the half-open probe. Half-open with a
        probe in flight: refused (exactly one probe at a time)."""
        now = self._clock.now()
        state = self.state
        if state == "closed":
            return
        if state == "open":
            if self._open_until is None:  # opened outside this object (shared storage)
                self._open_until = now + self._open_period()
            refused = self.refusal()
            if refused is not None:
                raise refused
            self._cb.half_open()
            self._probe_since = now
            return
        # half-open
        if self._probe_in_flight(now):
            raise CircuitOpenError(
                "circuit half-open and its probe is in flight",
                provider=self.provider,
                retry_in=None,
            )
        self._probe_since = now

    async def admit(self, *, with_limiter: bool = False) -> None:
        """``before_call`` as the store protocol's awaitable (a shared store makes it a
        round trip, or leaves it to the rate limiter's: ``with_limiter``; here it returns
        at once)."""
        self.before_call()

    # ------------------------------------------------------------------ outcomes

    def record_success(self, latency: float) -> None:
        """The call answered. Slower than ``slow_call``: counted as a failure."""
        slow = self.config.slow_call
        if slow is not None and latency > slow:
            self._failed(
                APITimeoutError(
                    f"slow call: {latency:.2f}s > slow_call {slow:.2f}s", provider=self.provider
                )
            )
            return
        for listener in self._cb.listeners:
            listener.success(self._cb)
        state = self.state
        if state == "half-open":
            self._close()
        elif state == "closed":
            self._window.append(False)
        # open: a call admitted before the trip; its outcome belongs to the old window.

    def record_failure(self, error: ProviderError) -> None:
        """The call failed with ``error``: neutral errors (400/422) count nothing; 401/402/403
        open the breaker at once for ``auth_open_for``."""
        if error.breaker_neutral:
            self.record_neutral()
            return
        self._failed(error)

    def record_neutral(self) -> None:
        """Cancellation or the caller's own bad request: frees a probe, counts nothing."""
        if self.state == "half-open":
            self._probe_since = None

    # ------------------------------------------------------------------ internals

    def _failed(self, error: ProviderError) -> None:
        for listener in self._cb.listeners:
            listener.failure(self._cb, error)
        state = self.state
        if error.trips_breaker:
            self._trip(self.config.auth_open_for)
        elif state == "half-open":
            self._reopens += 1
            self._trip(self._open_period())
        elif state == "closed":
            self._window.append(True)
            calls = len(self._window)
            failures = sum(self._window)
            if (
                failures
                and calls >= self._min_calls
                and failures / calls >= self.config.failure_rate
            ):
                self._trip(self._open_period())
        # open: an old call reporting late; the breaker is already open.

    def _open_period(self) -> float:
        cfg = self.config
        cap = max(cfg.max_open_for, cfg.open_for)
        return float(min(cap, cfg.open_for * 2.0 ** min(self._reopens, 64)))

    def _trip(self, period: float) -> None:
        self._open_until = self._clock.now() + period
        self._probe_since = None
        self._window.clear()
        self._trips += 1
        self._cb.open()

    def _close(self) -> None:
        self._open_until = None
        self._probe_since = None
        self._reopens = 0
        self._window.clear()
        self._cb.close()

    def _probe_in_flight(self, now: float) -> bool:
        since = self._probe_since
        return since is not None and now - since < self.config.probe_timeout

    def __repr__(self) -> str:
        h = self.health()
        return (
            f"ProviderBreaker({self.provider!r}, state={h.state!r}, "
            f"failure_rate={h.failure_rate:.2f}, calls={h.calls_in_window})"
        )


# ----------------------------------------------------------------------------- the layer


def breaker_layer(site: Site) -> Layer | None:
    """The per-provider layer that admits (or refuses) a call and records its outcome."""
    assert site.slot is not None
    breaker = site.slot.breaker
    if breaker is None:
        return None
    # The provider's rate limit layer comes right after this one (``LAYERS``): a shared
    # store may check the breaker in the limiter's round trip (``with_limiter``).
    fused = site.slot.limiter is not None
    return functools.partial(_guarded, breaker, site.clock, fused)


async def _guarded(
    breaker: BreakerStore, clock: Clock, fused: bool, call: Call, next: Handler
) -> Answer:
    await breaker.admit(with_limiter=fused)  # CircuitOpenError: skipped (in memory: no I/O)
    started = clock.now()
    try:
        answer = await next(call)
    except CircuitOpenError:
        raise  # this breaker's own refusal, made in the limiter's round trip: no outcome
    except ProviderError as exc:
        if isinstance(exc, RateLimitedLocally) or exc is call.caller_cut:
            breaker.record_neutral()
        else:
            breaker.record_failure(exc)
        raise
    except BaseException:  # cancellation is nobody's failure
        breaker.record_neutral()
        raise
    return when_settled(answer, functools.partial(_settle, breaker, clock.now() - started))


def _settle(
    breaker: BreakerStore, latency: float, error: ProviderError | None, completion: object
) -> None:
    """How an answer ended: fine, or broke (a stream, after commit). Running out of the
    caller's own deadline while the caller reads is nobody's failure."""
    if error is None:
        breaker.record_success(latency)
    elif isinstance(error.__cause__, DeadlineExceeded):
        breaker.record_neutral()
    else:
        breaker.record_failure(error)
