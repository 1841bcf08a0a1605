"""``ResilientTransport`` / ``AsyncResilientTransport``: httpx2 transports that answer
``POST .../chat/completions`` through the resilient pipeline and pass every other request
through to its own URL (the caller's endpoint) with retries and the breaker.

    transport = AsyncResilientTransport([OpenAICompatible(...), DeepSeek(), LlamaCpp()])
    http = httpx2.AsyncClient(transport=transport)   # or openai.AsyncOpenAI(http_client=http)

The answer is an ordinary HTTP response: JSON, or ``text/event-stream`` for ``"stream":
true``, with the route in the ``x-deepseek-resilient-route`` header. When every provider
failed: the HTTP status that best describes it (see ``wire.error_outcome``), or, for
connection failures and the deadline, ``httpx2.ConnectError`` / ``httpx2.ReadTimeout``
subclasses carrying ``route`` and ``errors``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx2
from typing_extensions import Unpack

from .._client.async_client import AsyncClient
from .._client.options import ClientOptions
from .._client.sync_client import Client
from .._core.route import Route
from .._providers.base import Provider
from .engine import Engine
from .wire import Failure, Reply

__all__ = [
    "AsyncResilientTransport",
    "ChainConnectError",
    "ChainTimeout",
    "ResilientTransport",
    "answer_sync",
    "failure_error",
    "next_piece",
]


class ChainConnectError(httpx2.ConnectError):
    """No provider could be reached (openai-python raises ``APIConnectionError`` from it).
    ``route``: every attempt; ``errors``: each provider's error."""

    route: Route | None = None
    errors: Sequence[Any] = ()


class ChainTimeout(httpx2.ReadTimeout):
    """The request's deadline passed (openai-python raises ``APITimeoutError`` from it)."""

    route: Route | None = None
    errors: Sequence[Any] = ()


def failure_error(failure: Failure, request: httpx2.Request) -> httpx2.TransportError:
    cls = ChainTimeout if failure.kind == "timeout" else ChainConnectError
    exc = cls(failure.message, request=request)
    exc.route = failure.route
    exc.errors = tuple(failure.errors)
    return exc


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        self._pieces = pieces

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The pieces themselves, not a generator that re-yields them: one frame less for
        # every piece. A response's body is read once (httpx2 refuses a second read).
        return self._pieces

    async def aclose(self) -> None:
        await self._pieces.aclose()  # type: ignore[attr-defined]


def _args(request: httpx2.Request | Any, content: bytes) -> tuple[Any, ...]:
    """``Engine.handle``'s arguments from an httpx2 (or httpx: the same shape) request."""
    url = request.url
    return (request.method, url, url.path, request.headers, content, request.extensions)


class AsyncResilientTransport(httpx2.AsyncBaseTransport):
    """The async transport: ``providers`` (or an ``AsyncClient``) and ``AsyncClient``'s
    options. Closing it closes the client it built."""

    def __init__(
        self,
        providers: Sequence[Provider] | AsyncClient | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        owns = not isinstance(providers, AsyncClient)
        client = (
            providers if isinstance(providers, AsyncClient) else AsyncClient(providers, **options)
        )
        self._engine = Engine(client)
        self._owns = owns

    @property
    def client(self) -> AsyncClient:
        """The client whose pipeline answers chat completions."""
        return self._engine.client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            content = request.content  # openai's body: read already
        except httpx2.RequestNotRead:
            content = await request.aread()
        outcome = await self._engine.handle(*_args(request, content))
        if isinstance(outcome, Failure):
            raise failure_error(outcome, request)
        return _response(outcome, request, None)

    async def aclose(self) -> None:
        if self._owns:
            await self._engine.aclose()


async def answer_sync(engine: Engine, args: tuple[Any, ...]) -> Reply | Failure:
    return await engine.handle(*args)


class _SyncBody(httpx2.SyncByteStream):
    """A streamed answer read on the client's loop thread, one piece per hop."""

    def __init__(self, pieces: AsyncIterator[bytes], client: Client) -> None:
        self._pieces = pieces
        self._client = client

    def __iter__(self) -> Iterator[bytes]:
        step = functools.partial(next_piece, self._pieces)
        while True:
            piece = self._client._run(step)
            if piece is None:
                return
            yield piece

    def close(self) -> None:
        self._client._run(self._pieces.aclose)  # type: ignore[attr-defined]


async def next_piece(pieces: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await pieces.__anext__()
    except StopAsyncIteration:
        return None


class ResilientTransport(httpx2.BaseTransport):
    """The sync transport: the same pipeline, run on a ``Client``'s private loop thread."""

    def __init__(
        self,
        providers: Sequence[Provider] | Client | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        owns = not isinstance(providers, Client)
        client = providers if isinstance(providers, Client) else Client(providers, **options)
        self._sync = client
        self._engine = Engine(client._async)
        self._owns = owns

    @property
    def client(self) -> Client:
        """The client whose pipeline answers chat completions."""
        return self._sync

    def _sibling(self, providers: Sequence[Provider], **options: Any) -> ResilientTransport:
        """A transport over other providers or policies on this one's loop thread (providers
        shared with this one keep their connections on the loop they were made on)."""
        client = self._sync.with_options()  # shares the loop thread
        client._async = AsyncClient(providers, **options)
        sibling = type(self)(client)
        sibling._owns = True
        return sibling

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        content = request.read()
        answer = functools.partial(answer_sync, self._engine, _args(request, content))
        outcome = self._sync._run(answer)
        if isinstance(outcome, Failure):
            raise failure_error(outcome, request)
        return _response(outcome, request, self._sync)

    def close(self) -> None:
        if self._owns and self._sync._root._portal is not None:
            self._sync._run(self._engine._passthrough.aclose)
            self._sync.close()


def _response(reply: Reply, request: httpx2.Request, sync: Client | None) -> httpx2.Response:
    if reply.stream is None:  # a whole body, read by the caller as from a network stream
        headers = [*reply.headers, ("content-length", str(len(reply.body)))]
        body = httpx2.ByteStream(reply.body)
        return httpx2.Response(reply.status, headers=headers, stream=body, request=request)
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream
    stream = _AsyncBody(reply.stream) if sync is None else _SyncBody(reply.stream, sync)
    return httpx2.Response(reply.status, headers=reply.headers, stream=stream, request=request)
