"""Blocking inference in a worker thread, bridged to anyio, with a stop flag.

Worker threads cannot be cancelled. So a blocking job gets a ``threading.Event`` (the stop
flag) that it checks between tokens, and the async side that waits for it:

* holds a capacity limiter *on behalf of the job*, not of the awaiting task: when the awaiting
  task is cancelled it sets the stop flag and leaves at once, and the thread releases the
  limiter only when the job has really finished — so the next job never overlaps it;
* never uses a task group, so the streaming variant is a plain async generator that is safe
  to iterate under any cancel scope (``fail_after`` around one ``anext``) and to close early.

Per-event-loop primitives (limiters, locks) are made lazily inside the running loop by
``PerLoop`` (an ``anyio.lowlevel.RunVar``), never at import or construction.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = ["Emit", "PerLoop", "run_in_worker", "stream_from_worker"]

T = TypeVar("T")

#: Passed to a streaming job: hand one item to the async side; False when nobody listens.
Emit = Callable[[T], bool]


class PerLoop(Generic[T]):
    """One value per running event loop, made by ``factory`` on first use in that loop."""

    def __init__(self, name: str, factory: Callable[[], T]) -> None:
        self._var: anyio.lowlevel.RunVar[T] = anyio.lowlevel.RunVar(name)
        self._factory = factory

    def get(self) -> T:
        """The value for the current event loop (must be called inside a running loop)."""
        try:
            return self._var.get()
        except LookupError:
            value = self._factory()
            self._var.set(value)
            return value


class _Box(Generic[T]):
    """The outcome of a job: its value or its exception."""

    __slots__ = ("error", "value")

    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None


def _call_soon(token: anyio.lowlevel.EventLoopToken, fn: Callable[[], object]) -> None:
    """Run ``fn`` on the event loop from a worker thread; ignore a loop that has gone."""
    with contextlib.suppress(Exception):  # a closed loop: nobody is waiting any more
        anyio.from_thread.run_sync(fn, token=token)


async def run_in_worker(
    job: Callable[[threading.Event], T], *, limiter: anyio.CapacityLimiter, name: str
) -> T:
    """Run ``job(stop)`` in a daemon thread, holding ``limiter`` until the job returns.

    On cancellation the stop flag is set and the caller leaves at once; the job is expected
    to notice the flag between tokens and return soon.
    """
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    token = anyio.lowlevel.current_token()
    stop = threading.Event()
    done = anyio.Event()
    box: _Box[T] = _Box()

    def target() -> None:
        try:
            box.value = job(stop)
        except BaseException as exc:
            box.error = exc
        finally:

            def finish() -> None:
                limiter.release_on_behalf_of(borrower)
                done.set()

            _call_soon(token, finish)

    try:
        threading.Thread(target=target, name=name, daemon=True).start()
    except BaseException:
        limiter.release_on_behalf_of(borrower)
        raise
    try:
        await done.wait()
    except BaseException:
        stop.set()
        raise
    if box.error is not None:
        raise box.error
    return box.value  # type: ignore[return-value]


class _End:
    """Sentinel: the streaming job has returned."""


async def stream_from_worker(
    job: Callable[[threading.Event, Emit[T]], None],
    *,
    limiter: anyio.CapacityLimiter,
    name: str,
) -> AsyncIterator[T]:
    """Run ``job(stop, emit)`` in a daemon thread and yield what it emits.

    Closing or cancelling the iterator sets the stop flag (and ``emit`` starts returning
    False); the limiter is held until the job really returns. An exception raised by the job
    is re-raised here after the items emitted before it.
    """
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    token = anyio.lowlevel.current_token()
    stop = threading.Event()
    send, recv = anyio.create_memory_object_stream[object](max_buffer_size=math.inf)

    def emit(item: T) -> bool:
        if stop.is_set():
            return False
        try:
            anyio.from_thread.run_sync(send.send_nowait, item, token=token)
        except Exception:  # closed/broken stream or a finished loop: the consumer has gone
            stop.set()
            return False
        return True

    def target() -> None:
        outcome: object = _End()
        try:
            job(stop, emit)
        except BaseException as exc:
            outcome = exc
        finally:

            def finish() -> None:
                limiter.release_on_behalf_of(borrower)
                with contextlib.suppress(anyio.BrokenResourceError):
                    send.send_nowait(outcome)
                send.close()

            _call_soon(token, finish)

    try:
        threading.Thread(target=target, name=name, daemon=True).start()
    except BaseException:
        limiter.release_on_behalf_of(borrower)
        send.close()
        recv.close()
        raise
    try:
        async for item in recv:
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)
    finally:
        stop.set()
        recv.close()
