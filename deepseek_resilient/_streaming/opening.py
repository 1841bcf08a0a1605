"""Opening a provider's chunk stream up to its commit point (its first chunk with output), and
reading a committed stream to its end (a request sent upstream as a stream)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._core.errors import APIConnectionError, APITimeoutError, InvalidResponseError, ProviderError
from .._models import ChatCompletion, ChatCompletionChunk
from .accumulate import Accumulator
from .idle import AttemptScope, IdleWatch
from .plain import plain_finished, plain_has_content
from .sse import SKIPPED_EVENT

if TYPE_CHECKING:
    from .recovery import Broken
    from .splice import Splice

__all__ = [
    "Finisher",
    "How",
    "OpenedStream",
    "Resume",
    "close_quietly",
    "idle_error",
    "is_finished",
    "open_until_commit",
    "read_to_end",
]

#: Called once when a committed stream ends: None (done, or closed early) or its failure.
Finisher = Callable[[ProviderError | None], None]
How = Literal["continue", "restart"]
#: ``resume(broken)``: a committed stream that goes on from where a broken one stopped (its
#: first chunks already fitted), and the splice that fits the rest; raises ``ProviderError``
#: when no provider could take over.
Resume = Callable[["Broken"], Awaitable["tuple[OpenedStream, Splice]"]]


@dataclass(repr=False, eq=False)
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
    #: ``read_to_end`` with an outer scope: the idle limit ended that scope.
    idle_expired: bool = False

    @classmethod
    def replay(cls, provider: str, chunks: list[ChatCompletionChunk]) -> OpenedStream:
        return cls(provider=provider, buffered=chunks, rest=None)


def is_finished(chunk: ChatCompletionChunk) -> bool:
    for c in chunk.choices:  # noqa: SIM110 - a loop: no generator per chunk
        if c.finish_reason is not None:
            return True
    return False


async def open_until_commit(source: AsyncIterator[Any], provider: str) -> OpenedStream:
    """Read ``source`` (chunks; plain chunks too from a ``plain_stream``, which only
    ``read_to_end`` reads on) up to and including its first chunk with output. On any failure (or
    cancellation) the source is closed before the error propagates. A stream that ends with
    no output and no finish reason is an empty answer: ``InvalidResponseError``."""
    buffered: list[Any] = []
    skipped = 0
    finished = False
    try:
        async for chunk in source:
            if chunk is SKIPPED_EVENT:
                skipped += 1
                continue
            buffered.append(chunk)
            if type(chunk) is dict:  # a plain chunk (``plain_stream``): read to the end only
                finished = finished or plain_finished(chunk)
                if plain_has_content(chunk):
                    return OpenedStream(provider, buffered, source, skipped=skipped)
                continue
            finished = finished or is_finished(chunk)
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


async def read_to_end(
    opened: OpenedStream, outer: AttemptScope | None = None
) -> tuple[ChatCompletion, int]:
    """The whole answer of a committed stream (a request sent upstream as a stream), each
    wait for a data event bounded by ``opened.idle``; and the malformed events skipped.
    ``outer``: the attempt's scope; where it can (asyncio), the idle limit cancels that
    enclosing scope, on its own timer, instead of a scope of its own (``opened.idle_expired``
    then says so; the caller raises the idle error). Plain chunks (dicts, from a
    ``plain_stream``) are accumulated as their models would be."""
    acc = Accumulator()
    skipped = opened.skipped
    buffered: list[Any] = opened.buffered
    for chunk in buffered:
        if type(chunk) is dict:
            acc.add_plain(chunk)
        else:
            acc.add(chunk)
    rest: AsyncIterator[Any] | None = opened.rest
    if rest is None:
        return acc.result(), skipped
    # The idle limit: on the attempt's own timer where it can, else an ``IdleWatch``.
    own = None if outer is not None and outer.watch_idle(opened.idle) else IdleWatch(opened.idle)
    touch = outer.touch if own is None else own.touch  # type: ignore[union-attr]
    ended = False
    try:
        with own if own is not None else _NO_WATCH:
            async for chunk in rest:
                touch()
                if type(chunk) is dict:
                    acc.add_plain(chunk)
                elif chunk is SKIPPED_EVENT:
                    skipped += 1
                else:
                    acc.add(chunk)
            ended = True
    finally:
        if own is None:
            assert outer is not None
            outer.end_idle()
            opened.idle_expired = outer.idle_expired
        else:
            opened.idle_expired = own.expired
        if not ended:  # a finished generator needs no closing
            await close_quietly(rest)
    if own is not None and own.expired:
        raise idle_error(opened)
    if not acc.finished():
        raise APIConnectionError(
            "the answer ended without a finish reason", provider=opened.provider
        )
    return acc.result(), skipped


_NO_WATCH = contextlib.nullcontext()


def idle_error(opened: OpenedStream) -> APITimeoutError:
    """The error of a stream read whose idle limit passed."""
    return APITimeoutError(
        f"no data within the {opened.idle:g} s idle limit", provider=opened.provider
    )


async def close_quietly(source: AsyncIterator[Any] | None) -> None:
    """Close an async generator even from a cancelled scope, within a second."""
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    # a broken stream's own error was already raised: closing it may fail again, quietly
    with anyio.CancelScope(shield=True), anyio.move_on_after(1.0), contextlib.suppress(Exception):
        await aclose()
