"""Streams: opening one up to its commit point, and the ``AsyncStream``/``Stream`` users iterate.

A provider's chunk stream is read inside the pipeline until its first chunk with output (the
commit point): until then every failure is retried / failed over like a normal call. After it,
the rest is read by the caller through ``AsyncStream``, still under the request's one deadline;
a failure there is an ``IncompleteStreamError`` carrying the text received so far.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from ._accumulate import accumulate
from ._errors import DeadlineExceeded, IncompleteStreamError, ProviderError
from ._events import StreamIncomplete
from ._hooks import emit_request_finished
from ._types import Attempt, ChatCompletion, ChatCompletionChunk, Route

if TYPE_CHECKING:
    from ._pipeline import Call

__all__ = ["AsyncStream", "OpenedStream", "Stream", "open_until_commit"]

T = TypeVar("T")
#: Called once when a committed stream ends: None (done, or closed early) or its failure.
Finisher = Callable[[ProviderError | None], None]


@dataclass
class OpenedStream:
    """A provider stream that has committed: the chunks read so far and the rest."""

    provider: str
    buffered: list[ChatCompletionChunk]
    rest: AsyncIterator[ChatCompletionChunk] | None
    """None when the provider's stream already ended (an answer with no output)."""
    finishers: list[Finisher] = field(default_factory=list)
    #: Set by the cache layer: called with the whole answer when the stream ends normally.
    on_complete: list[Callable[[ChatCompletion], None]] = field(default_factory=list)

    @classmethod
    def replay(cls, provider: str, chunks: list[ChatCompletionChunk]) -> OpenedStream:
        return cls(provider=provider, buffered=chunks, rest=None)


async def open_until_commit(
    source: AsyncIterator[ChatCompletionChunk], provider: str
) -> OpenedStream:
    """Read ``source`` up to and including its first chunk with output. On any failure (or
    cancellation) the source is closed before the error propagates."""
    buffered: list[ChatCompletionChunk] = []
    try:
        async for chunk in source:
            buffered.append(chunk)
            if chunk.has_content:
                return OpenedStream(provider, buffered, source)
    except BaseException:
        await close_quietly(source)
        raise
    return OpenedStream(provider, buffered, None)


async def close_quietly(source: AsyncIterator[Any] | None) -> None:
    """Close an async generator even from a cancelled scope, within a second."""
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    # a broken stream's own error was already raised: closing it may fail again, quietly
    with anyio.CancelScope(shield=True), anyio.move_on_after(1.0), contextlib.suppress(Exception):
        await aclose()


def _committed_attempt(route: Route, provider: str) -> int | None:
    """Index of the last successful attempt of ``provider`` in ``route`` (the one that
    committed), or None."""
    for index in range(len(route.attempts) - 1, -1, -1):
        attempt: Attempt = route.attempts[index]
        if attempt.provider == provider and attempt.outcome == "ok":
            return index
    return None


class AsyncStream:
    """An iterator of ``ChatCompletionChunk`` (``async for``), an async context manager, with
    ``close()`` and ``route``. Reading stays under the request's deadline."""

    def __init__(self, opened: OpenedStream, call: Call) -> None:
        self._opened = opened
        self._call = call
        self._pending: deque[ChatCompletionChunk] = deque(opened.buffered)
        self._chunks: list[ChatCompletionChunk] = []
        self._done = False
        #: The route's entry for the attempt that committed: it becomes an error if the
        #: stream fails after commit (None: a replay, or no attempt recorded).
        self._attempt = _committed_attempt(call.route, opened.provider)

    @property
    def route(self) -> Route:
        """Who answered and how (``elapsed`` is final once the stream ended or was closed)."""
        return self._call.route

    @property
    def partial(self) -> str:
        """The content received so far."""
        return "".join(c.delta.content or "" for ch in self._chunks for c in ch.choices[:1])

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._pending:
            chunk = self._pending.popleft()
        else:
            rest = self._opened.rest
            if self._done or rest is None:
                await self._finish(None)
                raise StopAsyncIteration
            try:
                chunk = await self._next_live(rest)
            except StopAsyncIteration:
                await self._finish(None)
                raise
        self._chunks.append(chunk)
        return chunk

    async def _next_live(self, rest: AsyncIterator[ChatCompletionChunk]) -> ChatCompletionChunk:
        call = self._call
        failure: Exception | None = None
        try:
            with anyio.move_on_after(max(0.0, call.time_left())) as scope:
                try:
                    return await rest.__anext__()
                except StopAsyncIteration:
                    raise
                except Exception as exc:  # any failure after commit is an incomplete stream
                    failure = exc
        except StopAsyncIteration:
            raise
        except BaseException:
            # The caller's own cancellation (or Ctrl-C) while a chunk was awaited: the source
            # is broken now, so the stream ends here, as if closed early (never a success
            # that could be cached, never a provider failure).
            self._opened.on_complete.clear()
            self._pending.clear()
            await self._finish(None, cancelled=True)
            raise
        if scope.cancelled_caught or failure is None:
            failure = DeadlineExceeded(f"the stream outlasted the {call.timeout:g} s deadline")
        error = IncompleteStreamError(
            f"stream failed after its first content: {type(failure).__name__}: {failure}",
            provider=self._opened.provider,
            partial=self.partial,
        )
        error.route = call.route
        error.__cause__ = failure  # already visible to the finishers (breaker, limiter)
        self._record_failure(failure)
        if call.hooks.wants(StreamIncomplete):
            kind, chars = type(failure).__name__, len(error.partial or "")
            call.hooks.emit(StreamIncomplete(call.id, self._opened.provider, kind, chars))
        await self._finish(error)
        raise error from failure

    def _record_failure(self, failure: Exception) -> None:
        """Turn the committed attempt's route entry into an error: ``error`` is the type of
        what broke the stream (``APIConnectionError``, ``DeadlineExceeded``, ...)."""
        index = self._attempt
        if index is None:
            return
        attempts = self._call.route.attempts
        attempts[index] = attempts[index].model_copy(
            update={
                "outcome": "error",
                "error": type(failure).__name__,
                "status_code": getattr(failure, "status_code", None),
            }
        )

    async def _finish(self, error: ProviderError | None, *, cancelled: bool = False) -> None:
        if self._done:
            return
        self._done = True
        await close_quietly(self._opened.rest)
        call = self._call
        call.route.elapsed = call.clock.now() - call.started
        for finish in self._opened.finishers:
            finish(error)
        outcome: Literal["ok", "error", "cancelled"] = (
            "error" if error else ("cancelled" if cancelled else "ok")
        )
        emit_request_finished(call, outcome, error, self._chunks)
        if error is None and not self._pending and self._chunks and self._opened.rest is not None:
            completion = None
            for store in self._opened.on_complete:
                completion = completion or accumulate(self._chunks)
                store(completion)

    async def close(self) -> None:
        """Stop reading and release the connection (not a provider failure). Idempotent."""
        if not self._done:
            self._opened.on_complete.clear()  # an unfinished answer is never cached
            self._pending.clear()  # iterating a closed stream stops at once
            await self._finish(None, cancelled=True)

    aclose = close

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def until_done(self) -> ChatCompletion:
        """Read the rest and return the whole answer as one ``ChatCompletion``."""
        async for _ in self:
            pass
        completion = accumulate(self._chunks)
        completion._route = self.route
        return completion


class Stream:
    """The sync ``Stream``: iterate it (``for chunk in stream``), use it as a context manager,
    ``close()`` it. Chunks are read on the client's loop thread."""

    def __init__(self, inner: AsyncStream, run: Callable[[Callable[[], Awaitable[T]]], T]) -> None:
        self._inner = inner
        self._run: Callable[[Callable[[], Awaitable[Any]]], Any] = run

    @property
    def route(self) -> Route:
        return self._inner.route

    @property
    def partial(self) -> str:
        return self._inner.partial

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        try:
            chunk: ChatCompletionChunk = self._run(self._inner.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None
        return chunk

    def close(self) -> None:
        """Stop reading and release the connection. Idempotent."""
        self._run(self._inner.close)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def until_done(self) -> ChatCompletion:
        """Read the rest and return the whole answer as one ``ChatCompletion``."""
        completion: ChatCompletion = self._run(self._inner.until_done)
        return completion
