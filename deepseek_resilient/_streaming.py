"""Streams: opening one up to its commit point, and the ``AsyncStream``/``Stream`` users iterate.

A provider's chunk stream is read inside the pipeline until its first chunk with output (the
commit point): until then every failure is retried / failed over like a normal call, and a
stream that ends with no output and no finish reason (a role chunk, then ``[DONE]``) is an
``InvalidResponseError``, never an empty answer. After commit the rest is read by the caller
through ``AsyncStream``, still under the request's one deadline and, while another provider
remains, a data-idle limit (keep-alives never count as data). When the stream breaks after
commit (a cut, a stall past the idle limit, broken framing) it is recovered through the
router's ``resume``: a provider that can continue an assistant prefix goes on from the text
delivered; else one answers from scratch and only what extends the delivered text is passed
on. Only when neither works is the failure an ``IncompleteStreamError`` carrying the text
received so far. Never duplicated text, never a truncated stream ended as a success.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from ._accumulate import Accumulator
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    DeadlineExceeded,
    IncompleteStreamError,
    InvalidResponseError,
    ProviderError,
)
from ._events import StreamIncomplete, StreamRecovered
from ._hooks import emit_request_finished
from ._sse import SKIPPED_EVENT
from ._types import Attempt, ChatCompletion, ChatCompletionChunk, Recovery, Route

if TYPE_CHECKING:
    from ._call import Call

__all__ = [
    "MAX_RECOVERIES",
    "AsyncStream",
    "Diverged",
    "OpenedStream",
    "Stream",
    "open_until_commit",
    "read_to_end",
]

T = TypeVar("T")
#: Called once when a committed stream ends: None (done, or closed early) or its failure.
Finisher = Callable[[ProviderError | None], None]
How = Literal["continue", "restart"]
#: ``resume(text, reasoning, failure)``: a committed stream that goes on from where a broken
#: one stopped, and how; raises ``ProviderError`` when no provider could take over.
Resume = Callable[[str, str, Exception], Awaitable["tuple[OpenedStream, How]"]]
#: At most this many splices in a row that deliver nothing new (a provider that keeps breaking
#: is not chased forever; splices that make progress are bounded by the answer and deadline).
MAX_RECOVERIES = 3


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
    #: Longest wait for the next data event after commit (keep-alives don't count).
    idle: float = math.inf
    #: Malformed events skipped before commit.
    skipped: int = 0
    #: Set by the router: recovers this stream if it breaks after commit.
    resume: Resume | None = None

    @classmethod
    def replay(cls, provider: str, chunks: list[ChatCompletionChunk]) -> OpenedStream:
        return cls(provider=provider, buffered=chunks, rest=None)


def _finished(chunk: ChatCompletionChunk) -> bool:
    return any(c.finish_reason is not None for c in chunk.choices)


async def open_until_commit(
    source: AsyncIterator[ChatCompletionChunk], provider: str
) -> OpenedStream:
    """Read ``source`` up to and including its first chunk with output. On any failure (or
    cancellation) the source is closed before the error propagates. A stream that ends with
    no output and no finish reason is an empty answer: ``InvalidResponseError``."""
    buffered: list[ChatCompletionChunk] = []
    skipped = 0
    finished = False
    try:
        async for chunk in source:
            if chunk is SKIPPED_EVENT:
                skipped += 1
                continue
            buffered.append(chunk)
            finished = finished or _finished(chunk)
            if chunk.has_content:
                return OpenedStream(provider, buffered, source, skipped=skipped)
    except BaseException:
        await close_quietly(source)
        raise
    if not finished:
        raise InvalidResponseError(
            "empty answer: the stream ended with no content and no finish reason",
            provider=provider,
        )
    return OpenedStream(provider, buffered, None, skipped=skipped)


async def read_to_end(opened: OpenedStream) -> tuple[ChatCompletion, int]:
    """The whole answer of a committed stream (a request sent upstream as a stream), each
    wait for a data event bounded by ``opened.idle``; and the malformed events skipped."""
    acc = Accumulator()
    skipped = opened.skipped
    for chunk in opened.buffered:
        acc.add(chunk)
    rest = opened.rest
    if rest is None:
        return acc.result(), skipped
    try:
        while True:
            with anyio.move_on_after(opened.idle) as idle_scope:
                try:
                    chunk = await rest.__anext__()
                except StopAsyncIteration:
                    break
            if idle_scope.cancelled_caught:
                raise APITimeoutError(
                    f"no data within the {opened.idle:g} s idle limit", provider=opened.provider
                )
            if chunk is SKIPPED_EVENT:
                skipped += 1
                continue
            acc.add(chunk)
    finally:
        await close_quietly(rest)
    if not acc.finished():
        raise APIConnectionError(
            "the answer ended without a finish reason", provider=opened.provider
        )
    return acc.result(), skipped


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


class Diverged(Exception):
    """A restarted answer does not start with the text already delivered."""


class _Splice:
    """Fits a resumed stream onto what the caller already has. ``restart``: drop the part of
    the new answer that repeats the delivered text (content and reasoning), or raise
    ``Diverged``; ``continue``: the new text follows on directly (its reasoning is dropped).
    Every chunk gets the first stream's id and loses its ``role``."""

    __slots__ = ("chunk_id", "how", "skip_content", "skip_reasoning")

    def __init__(self, how: How, chunk_id: str, content: str, reasoning: str) -> None:
        self.how = how
        self.chunk_id = chunk_id
        self.skip_content = content if how == "restart" else ""
        self.skip_reasoning = reasoning if how == "restart" else ""

    @staticmethod
    def _trim(skip: str, text: str) -> tuple[str, str]:
        """(what is still to skip, what to emit) for ``text`` arriving while ``skip`` is left."""
        if skip.startswith(text):
            return skip[len(text) :], ""
        if text.startswith(skip):
            return "", text[len(skip) :]
        raise Diverged

    def fit(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk | None:
        """The chunk to pass on (edited in place), or None when nothing in it is new."""
        chunk.id = self.chunk_id
        for choice in chunk.choices:
            delta = choice.delta
            delta.role = None
            if self.how == "continue":
                delta.reasoning_content = None
                continue
            if delta.reasoning_content:
                if self.skip_reasoning:
                    self.skip_reasoning, delta.reasoning_content = self._trim(
                        self.skip_reasoning, delta.reasoning_content
                    )
                elif self.skip_content:
                    delta.reasoning_content = None  # reasoning after content was delivered
            if delta.content:
                if self.skip_reasoning:
                    raise Diverged  # the content starts where the old answer was reasoning
                if self.skip_content:
                    self.skip_content, delta.content = self._trim(self.skip_content, delta.content)
            if _finished(chunk) and (self.skip_content or self.skip_reasoning):
                raise Diverged  # the new answer is shorter than what was delivered
        if not chunk.has_content and not _finished(chunk) and chunk.usage is None:
            return None
        return chunk


class AsyncStream:
    """An iterator of ``ChatCompletionChunk`` (``async for``), an async context manager, with
    ``close()`` and ``route``. Reading stays under the request's deadline; a stream that
    breaks after its first content is recovered when another provider (or the same one) can
    take over (see docs/streaming.md), and ``route.recoveries`` records each splice."""

    def __init__(self, opened: OpenedStream, call: Call) -> None:
        self._opened = opened
        self._call = call
        self._pending: deque[ChatCompletionChunk] = deque(opened.buffered)
        opened.buffered = []  # the deque holds them now: read once, then let go
        self._acc = Accumulator()
        self._done = False
        self._splice: _Splice | None = None
        #: What first broke the stream (reported if recovery fails, never masked).
        self._broken: Exception | None = None
        self._spliced_at = -1  # characters delivered at the last splice
        self._fruitless = 0  # splices in a row with nothing delivered in between
        self._first_id = self._pending[0].id if self._pending else ""
        #: The caller's cache writers, kept across splices (the answer is the whole stream).
        self._on_complete = opened.on_complete
        call.route.skipped_events += opened.skipped
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
        return self._acc.text()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._pending:
            chunk = self._pending.popleft()
        else:
            if self._done or self._opened.rest is None:
                await self._finish(None)
                raise StopAsyncIteration
            try:
                chunk = await self._next_live()
            except StopAsyncIteration:
                await self._finish(None)
                raise
        self._acc.add(chunk)
        return chunk

    async def _next_live(self) -> ChatCompletionChunk:
        call = self._call
        failure: Exception | None = None
        try:
            with anyio.move_on_after(max(0.0, call.time_left())) as scope:
                while True:
                    try:
                        chunk = await self._read_one()
                    except StopAsyncIteration:
                        raise
                    except Diverged:  # a restart did not repeat the delivered text
                        await self._drop(self._opened, diverged=True)
                        failure = self._broken
                        break
                    except Exception as exc:  # any failure after commit: recover, or report
                        if not await self._recover(exc):
                            failure = exc
                            break
                        if self._pending:
                            return self._pending.popleft()
                        continue
                    if chunk is not None:
                        return chunk
        except StopAsyncIteration:
            raise
        except BaseException:
            # The caller's own cancellation (or Ctrl-C) while a chunk was awaited: the source
            # is broken now, so the stream ends here, as if closed early (never a success
            # that could be cached, never a provider failure).
            self._on_complete.clear()
            self._pending.clear()
            await self._finish(None, cancelled=True)
            raise
        if scope.cancelled_caught or failure is None:
            failure = DeadlineExceeded(f"the stream outlasted the {call.timeout:g} s deadline")
        error = IncompleteStreamError(
            f"stream failed after its first content: {type(failure).__name__}: {failure}",
            provider=getattr(failure, "provider", None) or self._opened.provider,
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

    async def _read_one(self) -> ChatCompletionChunk | None:
        """The next chunk for the caller from the live source; None when it carried nothing
        new. Raises the source's failure, ``APITimeoutError`` past the idle limit, and
        ``APIConnectionError`` for an end with no finish reason (a truncated answer)."""
        opened = self._opened
        rest = opened.rest
        assert rest is not None
        try:
            if opened.idle == math.inf:  # no idle limit: no cancel scope per chunk
                chunk = await rest.__anext__()
            else:
                with anyio.move_on_after(opened.idle) as idle_scope:
                    chunk = await rest.__anext__()
        except StopAsyncIteration:
            if not self._acc.finished():
                raise APIConnectionError(
                    "the stream ended without a finish reason", provider=opened.provider
                ) from None
            raise
        if opened.idle != math.inf and idle_scope.cancelled_caught:
            raise APITimeoutError(
                f"no data for {opened.idle:g} s (the idle limit; keep-alives don't count)",
                provider=opened.provider,
            )
        if chunk is SKIPPED_EVENT:
            self._call.route.skipped_events += 1
            return None
        if self._splice is not None:
            return self._splice.fit(chunk)
        return chunk

    async def _recover(self, failure: Exception) -> bool:
        """Splice a stream that goes on from the delivered text in place of the broken one.
        False when it cannot be recovered (then ``failure`` is reported)."""
        opened = self._opened
        resumable = not isinstance(failure, ProviderError) or failure.failover
        text, reasoning = self._acc.text(), self._acc.reasoning()
        at = len(text) + len(reasoning)
        fruitless = self._fruitless + 1 if at <= self._spliced_at else 0
        if (
            opened.resume is None
            or not resumable
            or fruitless >= MAX_RECOVERIES
            or self._acc.has_tool_calls()  # a half-sent tool call cannot be spliced
            or self._acc.choices() > 1  # several answers at once: only one could be checked
        ):
            return False
        if self._broken is None:
            self._broken = failure
        # The broken stream is over: its attempt is a failure (breaker, limiter release).
        error = failure if isinstance(failure, ProviderError) else None
        self._record_failure(failure)
        await close_quietly(opened.rest)
        for finish in opened.finishers:
            finish(error or ProviderError(str(failure), provider=opened.provider))
        opened.finishers = []
        try:
            new, how = await opened.resume(text, reasoning, failure)
        except ProviderError:
            opened.rest = None
            return False
        splice = _Splice(how, self._first_id, text, reasoning)
        pending: deque[ChatCompletionChunk] = deque()
        try:
            for chunk in new.buffered:
                fitted = splice.fit(chunk)
                if fitted is not None:
                    pending.append(fitted)
        except Diverged:
            self._attempt = _committed_attempt(self._call.route, new.provider)
            await self._drop(new, diverged=True)
            opened.rest = None
            return False
        new.buffered = []
        self._call.route.skipped_events += new.skipped
        self._spliced_at, self._fruitless = at, fruitless
        self._call.route.recoveries.append(
            Recovery(
                at=at,
                provider=new.provider,
                how=how,
                error=type(failure).__name__,
            )
        )
        hooks = self._call.hooks
        if hooks.wants(StreamRecovered):
            hooks.emit(StreamRecovered(self._call.id, opened.provider, new.provider, how, at))
        self._call.route.provider = new.provider
        self._opened = new
        self._splice = splice
        self._pending = pending
        self._attempt = _committed_attempt(self._call.route, new.provider)
        return True

    async def _drop(self, opened: OpenedStream, *, diverged: bool) -> None:
        """Let go of a restarted stream whose answer diverged from the delivered text: the
        provider answered fine (no breaker failure); its attempt is marked ``Diverged``."""
        await close_quietly(opened.rest)
        opened.rest = None
        for finish in opened.finishers:
            finish(None)
        opened.finishers = []
        if diverged:
            self._record_failure(Diverged())

    def _record_failure(self, failure: Exception) -> None:
        """Turn the committed attempt's route entry into an error: ``error`` is the type of
        what broke the stream (``APIConnectionError``, ``DeadlineExceeded``, ...)."""
        index = self._attempt
        if index is None:
            return
        self._attempt = None
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
        emit_request_finished(call, outcome, error, self._acc)
        live = self._opened.rest is not None  # not a replay from the cache
        if (
            error is None
            and live
            and self._on_complete
            and not self._pending
            and not self._acc.empty
        ):
            completion = self._acc.result()
            for store in self._on_complete:
                store(completion)

    async def close(self) -> None:
        """Stop reading and release the connection (not a provider failure). Idempotent."""
        if not self._done:
            self._on_complete.clear()  # an unfinished answer is never cached
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
        completion = self._acc.result()
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
