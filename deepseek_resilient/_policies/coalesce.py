"""Singleflight: identical requests in flight share one call.

Every caller of :meth:`Singleflight.run` with the same key, while a call for that key is in
flight, is a *waiter* on that one call; the first one (the *leader*) only differs in that it
started it. The call itself runs in a task owned by the :class:`Singleflight`, never in a
waiter's task, so that:

- every waiter gets the identical result object, or the identical exception (once each);
- any waiter, the leader included, may be cancelled and leave at once; the call goes on for
  the others;
- when the last waiter leaves, the call is cancelled (its cancel scope, from outside).

Who owns the task: inside ``async with Singleflight() as sf`` a task group of the
singleflight (structured concurrency: leaving the block cancels whatever is left). Without it
(a client used without ``async with``), a task of the event loop itself: ``asyncio``'s
``loop.create_task`` or trio's ``spawn_system_task``. Either way the task is bounded by its
waiters: it is cancelled as soon as nobody waits, and the event loop's shutdown cancels it.

Not thread-safe: use one instance from one event loop (the sync client runs one loop thread).
"""

from __future__ import annotations

import contextvars
import copy
import functools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from .._call import Answer, Call, Handler, Layer, Site
from .._errors import DeadlineExceeded, DeepSeekResilientError
from .._events import Coalesced
from .._types import ChatCompletion, Route

if TYPE_CHECKING:
    import asyncio

    from .._state.base import FlightStore

__all__ = ["FlightAbandoned", "Singleflight", "coalesce_layer"]

T = TypeVar("T")

_NOTHING: Any = object()


class FlightAbandoned(RuntimeError):
    """The shared call was cancelled from outside (the singleflight closed, the loop is
    shutting down) while someone still waited for it."""


class _Flight(Generic[T]):
    """One call in flight and the waiters on it."""

    __slots__ = ("done", "error", "finished", "result", "scope", "traceback", "waiters")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.waiters = 0
        self.finished = False
        self.result: T = _NOTHING
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None


class Singleflight(Generic[T]):
    """Merge identical concurrent calls. Primitives are created inside the running loop."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}
        self._tg: TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references

    def __repr__(self) -> str:
        return f"Singleflight(in_flight={len(self._flights)})"

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return len(self._flights)

    def waiters(self, key: str) -> int:
        """Callers waiting on the call for ``key`` (0 when none is in flight)."""
        flight = self._flights.get(key)
        return flight.waiters if flight is not None else 0

    async def __aenter__(self) -> Singleflight[T]:
        if self._tg is not None:
            raise RuntimeError("this Singleflight is already entered")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        assert tg is not None
        tg.cancel_scope.cancel()
        return await tg.__aexit__(exc_type, exc, tb)

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``fn()``'s result, shared with every concurrent caller of the same ``key``.

        Returns ``(result, coalesced)``; ``coalesced`` is False for the caller whose call
        started ``fn`` and True for those who joined it. ``fn``'s exception is raised in every
        waiter. A new call after the shared one finished runs ``fn`` again."""
        flight = self._flights.get(key)
        coalesced = flight is not None
        if flight is None:
            flight = _Flight()
            self._flights[key] = flight
            self._spawn(key, flight, fn)
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.finished:
                # The last waiter left: nobody wants the answer any more.
                flight.scope.cancel()
                self._forget(key, flight)
        if flight.error is not None:
            # The same object for everyone; reset its traceback so it doesn't grow per waiter.
            raise flight.error.with_traceback(flight.traceback)
        return flight.result, coalesced

    # ------------------------------------------------------------------------- internals

    def _forget(self, key: str, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _spawn(self, key: str, flight: _Flight[T], fn: Callable[[], Awaitable[T]]) -> None:
        if self._tg is not None:
            self._tg.start_soon(self._drive, key, flight, fn)
            return
        import asyncio  # here, not at import: most programs never need this path

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: anyio's other backend is trio
            import trio

            trio.lowlevel.spawn_system_task(
                self._drive, key, flight, fn, context=contextvars.copy_context()
            )
            return
        task = loop.create_task(self._drive(key, flight, fn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, key: str, flight: _Flight[T], fn: Callable[[], Awaitable[T]]) -> None:
        """Run ``fn`` once inside the flight's cancel scope and publish its outcome."""
        cancelled = anyio.get_cancelled_exc_class()
        try:
            with flight.scope:
                try:
                    flight.result = await fn()
                except cancelled:
                    raise
                except BaseException as exc:  # delivered to every waiter, not lost here
                    flight.error = exc
                    flight.traceback = exc.__traceback__
        finally:
            flight.finished = True
            self._forget(key, flight)
            if flight.error is None and flight.result is _NOTHING:
                flight.error = FlightAbandoned("the shared call was cancelled")
            flight.done.set()


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
    if not call.coalesce or call.request.stream:
        return await next(call)
    shared_store = site.policies.flights

    async def shared() -> tuple[Answer, Route]:
        if shared_store is not None:
            return await _merged(shared_store, key, call, next), call.route
        return await next(call), call.route

    key = site.key(call)
    joined = flights.waiters(key) > 0
    if joined and call.hooks.wants(Coalesced):
        call.hooks.emit(Coalesced(call.id))
    if not joined and shared_store is None:
        # The leader: its own deadline already bounds the shared call (the deadline layer
        # inside it), so it needs no cancel scope of its own here.
        (answer, _), _ = await flights.run(key, shared)
        return answer
    # Each waiter keeps its own deadline; leaving early never cancels the others' call.
    with anyio.move_on_after(max(0.0, call.time_left())):
        try:
            (answer, route), _ = await flights.run(key, shared)
        except DeepSeekResilientError as exc:
            if not joined:
                raise
            call.route.coalesced = True  # the same error, as this waiter's own object
            raise copy.copy(exc) from exc
        if not joined:
            return answer
        call.route.coalesced = True
        call.route.provider = route.provider
        call.route.attempts = list(route.attempts)
        assert isinstance(answer, ChatCompletion)
        return answer.model_copy()
    raise DeadlineExceeded(f"no answer within the {call.timeout:g} s deadline", errors=call.errors)


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
