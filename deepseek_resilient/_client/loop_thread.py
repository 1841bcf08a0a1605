"""The private event-loop thread behind the sync ``Client``.

A daemon thread runs an anyio loop hosting a ``BlockingPortal``. Unlike
``anyio.from_thread.start_blocking_portal`` (a non-daemon executor thread), a client that is
never closed can't keep the interpreter from exiting.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

__all__ = ["LoopThread"]


class LoopThread:
    """Starts the loop thread; ``portal`` runs coroutines there; ``stop()`` ends it."""

    def __init__(self, name: str = "deepseek-resilient-loop") -> None:
        # Loaded by the first sync client, not at import.
        import queue

        from anyio.from_thread import BlockingPortal

        ready: queue.Queue[BlockingPortal | BaseException] = queue.Queue(maxsize=1)

        async def host() -> None:
            async with BlockingPortal() as portal:
                ready.put(portal)
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(host)
            except BaseException as exc:
                if ready.empty():
                    ready.put(exc)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        started = ready.get()
        if isinstance(started, BaseException):
            raise started
        self.portal: BlockingPortal = started

    def stop(self) -> None:
        """Stop the loop (cancelling what still runs there) and wait for the thread. Idempotent."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            with contextlib.suppress(RuntimeError):  # the portal already stopped
                self.portal.call(self.portal.stop, True)
            self._thread.join(timeout=5)
