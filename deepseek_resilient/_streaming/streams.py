"""Streams: the ``AsyncStream``/``Stream`` users iterate, and their recovery after commit.

Opening a stream up to its commit point is in ``_stream_open``; fitting a recovered stream
onto the delivered text in ``_splice``.

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

import math
from collections import deque
from typing import TYPE_CHECKING, Literal

import anyio

from .._core.errors import (
    APIConnectionError,
    APITimeoutError,
    DeadlineExceeded,
    IncompleteStreamError,
    ProviderError,
)
from .._core.events import StreamIncomplete, StreamRecovered
from .._core.hooks import emit_request_finished
from .._models import ChatCompletion, ChatCompletionChunk, Recovery, Route, StreamFailure
from .accumulate import Accumulator
from .opening import How, OpenedStream, close_quietly, open_until_commit, read_to_end
from .recovery import Broken, RecoveryState
from .splice import Diverged, Splice, committed_attempt, failed_attempt
from .sse import SKIPPED_EVENT
from .sync import Stream

if TYPE_CHECKING:
    from .._core.call import Call

__all__ = [
    "AsyncStream",
    "Diverged",
    "How",
    "OpenedStream",
    "Stream",
    "open_until_commit",
    "read_to_end",
]


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
        self._splice: Splice | None = None
        #: What recovery has learned (providers spent, the point reached), across splices.
        self._recovery = RecoveryState()
        self._first_id = self._pending[0].id if self._pending else ""
        #: The caller's cache writers, kept across splices (the answer is the whole stream).
        self._on_complete = opened.on_complete
        call.route.skipped_events += opened.skipped
        #: The route's entry for the attempt that committed: it becomes an error if the
        #: stream fails after commit (None: a replay, or no attempt recorded).
        self._attempt = committed_attempt(call.route, opened.provider)

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
        call.route.failure = StreamFailure(
            provider=error.provider or self._opened.provider,
            error=type(failure).__name__,
            at=len(self._acc.text()) + len(self._acc.reasoning()),
        )
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
        """Splice a verified stream that goes on from the delivered text in place of the
        broken one (the order and the checks: ``recovery``). False when it cannot be
        recovered (then ``failure`` is reported)."""
        opened = self._opened
        resumable = not isinstance(failure, ProviderError) or failure.failover
        if (
            opened.resume is None
            or not resumable
            or self._acc.has_tool_calls()  # a half-sent tool call cannot be spliced
            or self._acc.choices() > 1  # several answers at once: only one could be checked
        ):
            return False
        # The broken stream is over: its attempt is a failure (breaker, limiter release).
        error = failure if isinstance(failure, ProviderError) else None
        self._record_failure(failure)
        await close_quietly(opened.rest)
        for finish in opened.finishers:
            finish(error or ProviderError(str(failure), provider=opened.provider))
        opened.finishers = []
        text, reasoning = self._acc.text(), self._acc.reasoning()
        broken = Broken(text, reasoning, failure, self._first_id, self._recovery)
        try:
            new, splice = await opened.resume(broken)
        except ProviderError:
            opened.rest = None
            return False
        pending = deque(new.buffered)  # fitted and verified by the resume
        new.buffered = []
        call = self._call
        call.route.skipped_events += new.skipped
        call.route.recoveries.append(
            Recovery(
                at=broken.at, provider=new.provider, how=splice.how, error=type(failure).__name__
            )
        )
        if call.hooks.wants(StreamRecovered):
            call.hooks.emit(
                StreamRecovered(call.id, opened.provider, new.provider, splice.how, broken.at)
            )
        call.route.provider = new.provider
        self._opened = new
        self._splice = splice
        self._pending = pending
        self._attempt = committed_attempt(call.route, new.provider)
        return True

    def _record_failure(self, failure: Exception) -> None:
        """Turn the committed attempt's route entry into an error: ``error`` is the type of
        what broke the stream (``APIConnectionError``, ``DeadlineExceeded``, ...)."""
        failed_attempt(self._call.route, self._attempt, failure)
        self._attempt = None

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
