"""The sync ``Stream``: an ``AsyncStream`` read on the client's loop thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .._models import ChatCompletion, ChatCompletionChunk, Route

if TYPE_CHECKING:
    from .streams import AsyncStream

__all__ = ["Stream"]

T = TypeVar("T")


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
