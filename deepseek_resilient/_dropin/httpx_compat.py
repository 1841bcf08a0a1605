"""The same transports for httpx (openai-python 2.x and other httpx users), loaded only when
asked for: ``HttpxResilientTransport`` / ``AsyncHttpxResilientTransport``.

    http = httpx.AsyncClient(transport=AsyncHttpxResilientTransport([...]))
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx

from .._client.sync_client import Client
from .._core.route import Route
from .transport import AsyncResilientTransport, ResilientTransport, _args, answer_sync, next_piece
from .wire import Failure, Reply

__all__ = [
    "AsyncHttpxResilientTransport",
    "HttpxChainConnectError",
    "HttpxChainTimeout",
    "HttpxResilientTransport",
]


class HttpxChainConnectError(httpx.ConnectError):
    """No provider could be reached (``route``, ``errors`` as ``ChainConnectError``)."""

    route: Route | None = None
    errors: Sequence[Any] = ()


class HttpxChainTimeout(httpx.ReadTimeout):
    """The request's deadline passed (``route``, ``errors`` as ``ChainTimeout``)."""

    route: Route | None = None
    errors: Sequence[Any] = ()


def _raise(failure: Failure, request: httpx.Request) -> None:
    cls = HttpxChainTimeout if failure.kind == "timeout" else HttpxChainConnectError
    exc = cls(failure.message, request=request)
    exc.route = failure.route
    exc.errors = tuple(failure.errors)
    raise exc


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        self._pieces = pieces

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces  # as ``transport._AsyncBody``: one frame less for every piece

    async def aclose(self) -> None:
        await self._pieces.aclose()  # type: ignore[attr-defined]


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, pieces: AsyncIterator[bytes], client: Client) -> None:
        self._pieces = pieces
        self._client = client

    def __iter__(self) -> Iterator[bytes]:
        step = functools.partial(next_piece, self._pieces)
        while (piece := self._client._run(step)) is not None:
            yield piece

    def close(self) -> None:
        self._client._run(self._pieces.aclose)  # type: ignore[attr-defined]


def _response(reply: Reply, request: httpx.Request, sync: Client | None) -> httpx.Response:
    if reply.stream is None:  # a whole body, read by the caller as from a network stream
        headers = [*reply.headers, ("content-length", str(len(reply.body)))]
        body = httpx.ByteStream(reply.body)
        return httpx.Response(reply.status, headers=headers, stream=body, request=request)
    stream: httpx.SyncByteStream | httpx.AsyncByteStream
    stream = _AsyncBody(reply.stream) if sync is None else _SyncBody(reply.stream, sync)
    return httpx.Response(reply.status, headers=reply.headers, stream=stream, request=request)


class AsyncHttpxResilientTransport(AsyncResilientTransport, httpx.AsyncBaseTransport):
    """``AsyncResilientTransport`` for httpx: the same client, engine and closing; only the
    request and response types differ."""

    async def handle_async_request(  # type: ignore[override]
        self, request: httpx.Request
    ) -> httpx.Response:
        content = await request.aread()
        outcome = await self._engine.handle(*_args(request, content))
        if isinstance(outcome, Failure):
            _raise(outcome, request)
        assert isinstance(outcome, Reply)
        return _response(outcome, request, None)


class HttpxResilientTransport(ResilientTransport, httpx.BaseTransport):
    """``ResilientTransport`` for httpx (see ``AsyncHttpxResilientTransport``)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        content = request.read()
        answer = functools.partial(answer_sync, self._engine, _args(request, content))
        outcome = self._sync._run(answer)
        if isinstance(outcome, Failure):
            _raise(outcome, request)
        assert isinstance(outcome, Reply)
        return _response(outcome, request, self._sync)
