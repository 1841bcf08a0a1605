"""The hedged race: the first attempt runs; if it has not answered (a stream: committed its
first token) after ``after`` seconds and the budget allows, a second one starts. The first
to answer wins; the other is cancelled, which closes its upstream connection (a stream that
committed too late is closed the same way). When the first attempt fails before the hedge
starts, its error is raised at once, as without hedging (the router fails over)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from .._core.call import Answer
from .._core.errors import ProviderError
from .._streaming.opening import OpenedStream, close_quietly

__all__ = ["Race", "discard"]

Attempt = Callable[[], Awaitable[Answer]]


class Race:
    """One hedged race. After ``run``: ``winner`` (0 first, 1 the hedge) and ``hedged``
    (whether the hedge was sent); ``errors`` holds each failed attempt's exception."""

    def __init__(self) -> None:
        self.winner: int | None = None
        self.answer: Answer | None = None
        self.hedged = False
        self.errors: dict[int, Exception] = {}
        self._running = 0
        self._scope: anyio.CancelScope | None = None

    async def run(
        self, first: Attempt, second: Attempt, after: float, may_hedge: Callable[[], bool]
    ) -> Answer | None:
        """The winning answer, or None when every attempt that ran failed (see ``errors``)."""
        async with anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            self._running = 1
            tg.start_soon(self._attempt, 0, first)
            tg.start_soon(self._timer, tg, second, after, may_hedge)
        return self.answer

    async def _timer(
        self, tg: anyio.abc.TaskGroup, second: Attempt, after: float, may_hedge: Callable[[], bool]
    ) -> None:
        await anyio.sleep(after)
        if self.winner is None and self._running and may_hedge():
            self.hedged = True
            self._running += 1
            tg.start_soon(self._attempt, 1, second)

    async def _attempt(self, which: int, attempt: Attempt) -> None:
        try:
            answer = await attempt()
        except Exception as exc:  # kept: the router reports it; never an exception group
            self.errors[which] = exc
            self._running -= 1
            if self._running == 0 or not (isinstance(exc, ProviderError) and exc.failover):
                self._cancel()  # nothing left to wait for, or an error no other would fix
            return
        self._running -= 1
        if self.winner is not None:
            await discard(answer)  # committed too late: the other one is streaming
            return
        self.winner, self.answer = which, answer
        self._cancel()

    def _cancel(self) -> None:
        assert self._scope is not None
        self._scope.cancel()


async def discard(answer: Answer) -> None:
    """Drop an answer nobody will read: a stream is closed (its connection with it) and its
    finishers told it ended."""
    if isinstance(answer, OpenedStream):
        await close_quietly(answer.rest)
        answer.rest = None
        for finish in answer.finishers:
            finish(None)
        answer.finishers.clear()
