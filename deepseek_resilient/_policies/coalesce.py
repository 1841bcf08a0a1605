"""Singleflight: identical requests in flight share one call.

The first caller of :meth:`Singleflight.run` for a key (the *leader*) runs the call in its
own task, inline (no task, no task group: about a sixth of a call's CPU, measured in
``benchmarks/hot_path.md``); every caller with the same key while it runs (a *joiner*) waits
for it and gets the identical result object, or the identical exception (once each).

Cancellation: a joiner may leave at any time; the call goes on for the others. When the
leader leaves before the call ends (its caller cancelled it), the call ends with it and the
joiners still waiting start it again, one of them leading: nobody is left without an answer
because somebody else gave up, at the price of a second upstream call in that rare case.

Not thread-safe: use one instance from one event loop (the sync client runs one loop thread).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from .._core.call import Answer, Call, Handler, Layer, Site
from .._core.errors import DeepSeekResilientError
from .._core.events import Coalesced
from .._models import ChatCompletion, Route

if TYPE_CHECKING:
    from .._state.base import FlightStore

__all__ = ["Singleflight", "coalesce_layer"]

T = TypeVar("T")

_NOTHING: Any = object()


class _Flight(Generic[T]):
    """One call in flight: its outcome, once known, and who waits for it."""

    __slots__ = ("_done", "error", "result", "traceback", "waiters")

    def __init__(self) -> None:
        self._done: anyio.Event | None = None  # made when the first joiner arrives
        self.waiters = 0
        self.result: T = _NOTHING  # stays _NOTHING when the leader left before the end
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None

    @property
    def done(self) -> anyio.Event:
        if self._done is None:
            self._done = anyio.Event()
        return self._done

    def finish(self) -> None:
        if self._done is not None:
            self._done.set()


class Singleflight(Generic[T]):
    """Merge identical concurrent calls. Primitives are created inside the running loop."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    def __repr__(self) -> str:
        return f"Singleflight(in_flight={len(self._flights)})"

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return len(self._flights)

    def waiters(self, key: str) -> int:
        """Callers waiting on the call for ``key``, its leader included (0 when none runs)."""
        flight = self._flights.get(key)
        return flight.waiters + 1 if flight is not None else 0

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``fn()``'s result, shared with every concurrent caller of the same ``key``.

        Returns ``(result, coalesced)``; ``coalesced`` is False for the caller whose call
        ran ``fn`` and True for those who joined it. ``fn``'s exception is raised in every
        waiter. A new call after the shared one finished runs ``fn`` again."""
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, fn), False
            flight.waiters += 1
            try:
                await flight.done.wait()
            finally:
                flight.waiters -= 1
            if flight.error is not None:
                # The same object for everyone; reset its traceback so it doesn't grow.
                raise flight.error.with_traceback(flight.traceback)
            if flight.result is not _NOTHING:
                return flight.result, True
            # The leader left before the end: run it again, one of the waiters leading.

    async def _lead(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        flight = self.take_off(key)
        try:
            result = await fn()
        except BaseException as exc:
            self.crash(key, flight, exc)
            raise
        self.land(key, flight, result)
        return result

    def take_off(self, key: str) -> _Flight[T]:
        """Lead the call for ``key`` (nobody runs it now): later callers of ``run`` join it.
        Exactly one of ``land`` or ``crash`` must follow."""
        flight: _Flight[T] = _Flight()
        self._flights[key] = flight
        return flight

    def land(self, key: str, flight: _Flight[T], result: T) -> None:
        """The led call returned ``result``: every waiter gets it."""
        flight.result = result
        self._end(key, flight)

    def crash(self, key: str, flight: _Flight[T], exc: BaseException) -> None:
        """The led call raised ``exc``: every waiter gets it, except a cancellation (the
        leader left: the waiters start again, one of them leading)."""
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            flight.error = exc
            flight.traceback = exc.__traceback__
        self._end(key, flight)

    def _end(self, key: str, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.finish()


# ----------------------------------------------------------------------------- the layer


def coalesce_layer(site: Site) -> Layer | None:
    """The request layer that merges identical cacheable completions in flight (None: off)."""
    flights = site.policies.singleflight
    if flights is None:
        return None
    return functools.partial(_coalesced, flights, site)


async def _coalesced(
    flights: Singleflight[tuple[Answer, Route]], site: Site, call: Call, next: Handler
) -> Answer:
    if not call.merges:
        return await next(call)
    shared_store = site.policies.flights
    key = site.key(call)
    joined = flights.waiters(key) > 0
    if joined and call.hooks.wants(Coalesced):
        call.hooks.emit(Coalesced(call.id))
    if not joined and shared_store is None:
        # The leader: its own deadline already bounds the shared call (the deadline layer
        # inside it), so it needs no cancel scope of its own here. What ``run`` does for a
        # leader, inline: three coroutine frames fewer on every await of the call.
        flight = flights.take_off(key)
        try:
            answer = await next(call)
        except BaseException as exc:
            flights.crash(key, flight, exc)
            raise
        flights.land(key, flight, (answer, call.route))
        return answer
    ran = False  # this caller's own call ran (it led, or took over from a leader who left)

    async def shared() -> tuple[Answer, Route]:
        nonlocal ran
        ran = True
        if shared_store is not None:
            return await _merged(shared_store, key, call, next), call.route
        return await next(call), call.route

    # Each waiter keeps its own deadline; leaving early never cancels the others' call.
    with anyio.move_on_after(max(0.0, call.time_left())):
        try:
            (answer, route), _ = await flights.run(key, shared)
        except DeepSeekResilientError as exc:
            if ran:
                raise
            call.route.coalesced = True  # the same error, as this waiter's own object
            raise copy.copy(exc) from exc
        if ran:
            return answer
        call.route.coalesced = True
        call.route.provider = route.provider
        call.route.attempts = list(route.attempts)
        assert isinstance(answer, ChatCompletion)
        return answer.model_copy()
    raise call.deadline_exceeded()


async def _merged(flights: FlightStore, key: str, call: Call, next: Handler) -> ChatCompletion:
    """One upstream call for identical requests in every process sharing the store."""

    async def compute() -> tuple[ChatCompletion, str | None]:
        answer = await next(call)
        assert isinstance(answer, ChatCompletion)  # merging is for completions only
        return answer, call.route.provider

    completion, provider, elsewhere = await flights.run(key, compute)
    if elsewhere:
        call.route.coalesced = True
        call.route.provider = provider
    return completion
