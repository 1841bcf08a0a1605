"""An idle limit over many awaits with one timer: ``IdleWatch``.

Reading a stream to its end, each wait for the next data event is bounded by the idle limit.
A cancel scope per wait costs a scope and a timer per chunk; an ``IdleWatch`` costs one scope
for the whole read and, per chunk, one float store (``touch``). On asyncio a single loop timer
checks the last touch when it fires and re-arms itself; elsewhere (trio) each touch moves the
scope's deadline. On asyncio a watch may cancel an enclosing scope instead of its own
(``outer``): no scope of its own is entered at all; ``expired`` then tells why that scope
ended.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import asyncio

__all__ = ["IdleWatch"]


class IdleWatch:
    """``with IdleWatch(idle) as watch: ... watch.touch() ...``: the block is cancelled once
    ``idle`` seconds pass without a touch (``watch.expired`` then says so). ``idle`` may be
    ``math.inf``: no limit, nothing scheduled."""

    __slots__ = ("_entered", "_handle", "_loop", "_scope", "expired", "idle", "last")

    def __init__(self, idle: float, outer: anyio.CancelScope | None = None) -> None:
        self.idle = idle
        self.last = 0.0
        self.expired = False
        self._scope = outer
        self._entered = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def __enter__(self) -> IdleWatch:
        try:
            import asyncio

            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: a scope of its own, its deadline moved per touch
            self._loop = None
        if self._scope is None or self._loop is None:
            self._scope = anyio.CancelScope()
            self._scope.__enter__()
            self._entered = True
        if self.idle == math.inf:
            self._loop = None
            return self
        if self._loop is None:
            self.last = anyio.current_time()
            self._scope.deadline = self.last + self.idle
        else:
            self.last = self._loop.time()
            self._handle = self._loop.call_at(self.last + self.idle, self._check)
        return self

    def touch(self) -> None:
        """Progress: the idle time starts again."""
        if self._loop is not None:
            self.last = self._loop.time()
        elif self.idle != math.inf:
            assert self._scope is not None
            self._scope.deadline = anyio.current_time() + self.idle

    def _check(self) -> None:
        assert self._loop is not None
        due = self.last + self.idle
        if self._loop.time() >= due:
            self._handle = None
            self.expired = True
            assert self._scope is not None
            self._scope.cancel()
        else:
            self._handle = self._loop.call_at(due, self._check)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._entered:  # the outer scope's: it ends there
            return False
        assert self._scope is not None
        swallowed: Any = self._scope.__exit__(exc_type, exc, tb)
        self.expired = self._scope.cancelled_caught
        return bool(swallowed)
