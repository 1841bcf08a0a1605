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

from .._core.lazy import running_asyncio_loop

if TYPE_CHECKING:
    import asyncio

__all__ = ["AttemptScope", "IdleWatch", "scope_after"]

#: asyncio's cancel scope class (anyio's own), once known: built directly, a scope costs no
#: lookup of the running backend (``anyio.CancelScope()`` and ``move_on_after`` each do one
#: or two).
_asyncio_scope: type[anyio.CancelScope] | None = None


def _asyncio_cancel_scope(deadline: float = math.inf) -> anyio.CancelScope:
    global _asyncio_scope
    if _asyncio_scope is None:
        _asyncio_scope = type(anyio.CancelScope())
    return _asyncio_scope(deadline=deadline)


def scope_after(delay: float) -> anyio.CancelScope:
    """``anyio.move_on_after(delay)``: on asyncio, anyio's own scope built directly."""
    loop = running_asyncio_loop()
    if loop is None:
        return anyio.move_on_after(delay)
    return _asyncio_cancel_scope(loop.time() + delay)


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
        # not asyncio: a scope of its own, its deadline moved per touch
        self._loop = running_asyncio_loop()
        if self._scope is None or self._loop is None:
            self._scope = anyio.CancelScope() if self._loop is None else _asyncio_cancel_scope()
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


class AttemptScope:
    """``with AttemptScope(limit) as scope``: one attempt's cancel scope, cancelled ``limit``
    seconds after it is entered (``scope.extend(s)`` moves that deadline ``s`` seconds out,
    as ``scope.deadline += s`` would) and, while ``watch_idle`` is on, once its idle limit
    passes without a ``touch`` (``idle_expired`` then says so).

    On asyncio the deadline and the idle limit share one loop timer, which checks both when
    it fires and re-arms itself for the earlier: moving the deadline or touching costs a
    float store, where a scope's own deadline re-arms a timer each time it moves. Elsewhere
    (trio) the scope's own deadline is used, and ``watch_idle`` declines (the reader then
    keeps an ``IdleWatch`` of its own, as before)."""

    __slots__ = ("_handle", "_limit", "_loop", "_scope", "deadline", "idle", "idle_expired",
                 "last")  # fmt: skip

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self.deadline = math.inf
        self.idle = math.inf
        self.last = 0.0
        self.idle_expired = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._scope: anyio.CancelScope | None = None

    @property
    def cancel_called(self) -> bool:
        return self._scope is not None and self._scope.cancel_called

    def __enter__(self) -> AttemptScope:
        self._loop = loop = running_asyncio_loop()
        if loop is None:  # not asyncio: the scope's own deadline
            self._scope = anyio.move_on_after(self._limit)
            self._scope.__enter__()
            return self
        self._scope = _asyncio_cancel_scope()
        self._scope.__enter__()
        self.deadline = loop.time() + self._limit
        if self._limit <= 0:
            self._scope.cancel()  # as a deadline already passed: at once
        elif self.deadline < math.inf:
            self._handle = loop.call_at(self.deadline, self._check)
        return self

    def extend(self, seconds: float) -> None:
        """The deadline moves ``seconds`` out (never in)."""
        assert self._scope is not None
        if self._loop is None:
            self._scope.deadline += seconds
        else:  # the timer, due earlier, re-arms itself when it fires
            self.deadline += seconds

    def watch_idle(self, idle: float) -> bool:
        """Cancel the scope also once ``idle`` seconds pass without a ``touch``; False (nothing
        done) where this scope has no timer of its own to do it with (not asyncio)."""
        loop = self._loop
        if loop is None:
            return False
        self.last = loop.time()
        self.idle = idle
        due = self.last + idle
        if due < math.inf and (self._handle is None or due < self._handle.when()):
            if self._handle is not None:
                self._handle.cancel()
            self._handle = loop.call_at(due, self._check)
        return True

    def touch(self) -> None:
        """Progress: the idle time starts again (``watch_idle`` returned True)."""
        assert self._loop is not None
        self.last = self._loop.time()

    def end_idle(self) -> None:
        """No idle limit any more."""
        self.idle = math.inf

    def _check(self) -> None:
        """The timer fired: cancel the scope when a limit has passed, else wait for the
        earlier one (none: the timer stops)."""
        assert self._loop is not None and self._scope is not None
        idle_due = self.last + self.idle
        due = min(self.deadline, idle_due)
        self._handle = None
        if due < math.inf and self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
        elif due < math.inf:
            self.idle_expired = idle_due <= self.deadline
            self._scope.cancel()

    def __exit__(self, *exc_info: Any) -> bool:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
        assert self._scope is not None
        return bool(self._scope.__exit__(*exc_info))
