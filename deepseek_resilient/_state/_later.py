"""Run a plain function once, a little later, on the running event loop (asyncio or trio),
and flush queued disk-cache writes when the interpreter exits.

The disk cache queues the answers it stores and writes them in one transaction
(``ResponseCache.set_later``). The queue is written when it is full, and otherwise by a timer
set here when the first answer is queued, so another process sharing the directory sees an
answer at most ``batch_age`` seconds after it was stored even when no other answer follows.
"""

from __future__ import annotations

import atexit
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.lazy import running_asyncio_loop

if TYPE_CHECKING:
    from .._policies.cache.store import ResponseCache

__all__ = ["call_later", "flush_at_exit"]

Cancel = Callable[[], Any]


def call_later(delay: float, fn: Callable[[], None]) -> Cancel | None:
    """Call ``fn()`` after ``delay`` seconds on the running loop; returns what cancels it, or
    None when no loop runs here (the caller then relies on its other flushes)."""
    loop = running_asyncio_loop()
    if loop is not None:
        return loop.call_later(delay, fn).cancel
    trio = sys.modules.get("trio")
    if trio is not None:
        return _trio_later(trio, delay, fn)
    return None


def _trio_later(trio: Any, delay: float, fn: Callable[[], None]) -> Cancel | None:
    scope = trio.CancelScope()

    async def later() -> None:
        with scope:
            await trio.sleep(delay)
            fn()

    try:
        trio.lowlevel.spawn_system_task(later, name="deepseek_resilient cache flush")
    except RuntimeError:  # not inside trio.run
        return None
    return scope.cancel  # type: ignore[no-any-return]


_UNFLUSHED: weakref.WeakSet[ResponseCache] = weakref.WeakSet()
_registered = False


def flush_at_exit(cache: ResponseCache) -> None:
    """Write ``cache``'s queue when the interpreter exits, if it is still queued then (a
    client never closed, a loop that ended before its timer)."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_flush_all)
    _UNFLUSHED.add(cache)


def _flush_all() -> None:
    for cache in list(_UNFLUSHED):
        cache.flush()
