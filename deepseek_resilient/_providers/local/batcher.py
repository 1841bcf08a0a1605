"""Dynamic micro-batching: concurrent requests share one blocking batch call.

A request waits up to ``window`` seconds for company (or until ``max_batch_size`` compatible
requests are queued), then a batch of compatible requests (same ``key``) is run by
``run_batch`` in a worker thread; each caller gets its own result. Requests that arrive while a
batch runs are queued and start together as soon as it finishes, so the model is never idle
while work waits. Everything that touches the queue runs on the event loop thread (no locks).

Cancellation: a caller that leaves before its request is taken is removed from the queue; one
that leaves while its batch runs is marked abandoned, and ``run_batch`` is told to stop when
every request of its batch has been abandoned (worker threads cannot be cancelled).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from .worker import PerLoop

__all__ = ["MicroBatcher"]

In = TypeVar("In")
Out = TypeVar("Out")

#: ``run_batch(items, should_stop) -> one result per item`` (blocking; runs in a thread).
RunBatch = Callable[[Sequence[In], Callable[[], bool]], Sequence[Out]]


class _Slot(Generic[In, Out]):
    __slots__ = ("abandoned", "done", "error", "full", "item", "key", "result", "taken")

    def __init__(self, item: In, key: Hashable) -> None:
        self.item = item
        self.key = key
        self.full = anyio.Event()  # a full batch is ready: stop waiting for the window
        self.done = anyio.Event()
        self.taken = False
        self.abandoned = False
        self.result: Out | None = None
        self.error: BaseException | None = None


class _LoopState(Generic[In, Out]):
    """The queue of one event loop."""

    def __init__(self) -> None:
        self.queue: list[_Slot[In, Out]] = []
        self.busy = False
        self.token = anyio.lowlevel.current_token()


class MicroBatcher(Generic[In, Out]):
    """Collects concurrent ``submit`` calls into batches for ``run_batch``.

    ``key(item)``: only items with equal keys share a batch (e.g. the same sampling settings).
    ``batches``: how many batches have been started (for tests and metrics).
    """

    def __init__(
        self,
        run_batch: RunBatch[In, Out],
        *,
        key: Callable[[In], Hashable],
        max_batch_size: int = 8,
        window: float = 0.005,
        name: str = "micro-batch",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if window < 0:
            raise ValueError("window must be >= 0")
        self._run_batch = run_batch
        self._key = key
        self.max_batch_size = max_batch_size
        self.window = window
        self._name = name
        self.batches = 0
        self._state: PerLoop[_LoopState[In, Out]] = PerLoop(f"{name}-{id(self)}", _LoopState)

    async def submit(self, item: In) -> Out:
        """Queue ``item``, wait for its batch to run, and return its result."""
        state = self._state.get()
        slot: _Slot[In, Out] = _Slot(item, self._key(item))
        state.queue.append(slot)
        try:
            same = [s for s in state.queue if s.key == slot.key]
            if len(same) >= self.max_batch_size:
                for s in same:
                    s.full.set()
            if self.window > 0 and not slot.full.is_set():
                with anyio.move_on_after(self.window):
                    await slot.full.wait()
            if not slot.taken and not state.busy:
                self._start(state, slot.key)
            await slot.done.wait()
        except BaseException:
            if slot.taken:
                slot.abandoned = True
            else:
                with contextlib.suppress(ValueError):
                    state.queue.remove(slot)
            raise
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _start(self, state: _LoopState[In, Out], key: Hashable) -> None:
        """Take up to ``max_batch_size`` queued items with ``key`` and run them (on the loop)."""
        batch = [s for s in state.queue if s.key == key][: self.max_batch_size]
        if not batch:
            return
        for s in batch:
            s.taken = True
            state.queue.remove(s)
        state.busy = True
        self.batches += 1

        def should_stop() -> bool:
            return all(s.abandoned for s in batch)

        def target() -> None:
            try:
                results = self._run_batch([s.item for s in batch], should_stop)
                if len(results) != len(batch):
                    raise RuntimeError("run_batch returned a wrong number of results")
                for s, r in zip(batch, results, strict=True):
                    s.result = r
            except BaseException as exc:
                for s in batch:
                    s.error = exc
            finally:
                with contextlib.suppress(Exception):  # a closed loop: nobody is waiting
                    anyio.from_thread.run_sync(finish, token=state.token)

        def finish() -> None:
            state.busy = False
            for s in batch:
                s.done.set()
            if state.queue:
                self._start(state, state.queue[0].key)

        try:
            threading.Thread(target=target, name=self._name, daemon=True).start()
        except BaseException as exc:
            for s in batch:
                s.error = exc
            finish()
