"""``http_client=`` objects other than an ``httpx2.AsyncClient``, made to serve a provider.

- An ``httpx.AsyncClient`` (openai-python 2.x's HTTP library; ``DefaultAsyncHttpxClient()``)
  sends as it is; its exceptions become httpx2's of the same name, which providers translate.
- A sync ``httpx2.Client`` or ``httpx.Client`` (what a sync openai client takes) sends on
  worker threads (anyio's, at most 40 at once by default). A call cancelled meanwhile (its
  deadline, a failover) returns at once; the thread finishes within the idle timeout the
  request carries, then closes the response.

Either way the caller's client keeps all its settings (proxies, mTLS, auth, event hooks,
limits) and the caller closes it. httpx is never imported here: an httpx object can only
exist once the caller has imported httpx. This module is loaded by the first provider given
an ``http_client=``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import anyio
import httpx2

from ..._core.errors import ConfigurationError

__all__ = ["AsyncHTTP", "adapt_http_client"]


class AsyncHTTP(Protocol):
    """What a provider sends with: an ``httpx2.AsyncClient`` or an adapter of this module."""

    @property
    def headers(self) -> Any: ...

    def stream(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: httpx2.Timeout,
    ) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def aclose(self) -> None: ...


def _of(client: object, library: str, name: str) -> bool:
    module = sys.modules.get(library)
    kind = getattr(module, name, None) if module is not None else None
    return isinstance(kind, type) and isinstance(client, kind)


def adapt_http_client(client: object, provider: str) -> AsyncHTTP:
    """``client`` ready for a provider, or ``ConfigurationError`` naming what it takes."""
    if isinstance(client, httpx2.AsyncClient):
        return client
    if _of(client, "httpx", "AsyncClient"):
        return _HttpxAsync(client)
    if isinstance(client, httpx2.Client) or _of(client, "httpx", "Client"):
        return _Threaded(client)
    raise ConfigurationError(
        f"{provider}: http_client must be an httpx2.AsyncClient, an httpx.AsyncClient, or a "
        f"sync httpx2.Client / httpx.Client, got {type(client).__name__}"
    )


def _library(client: object) -> Any:
    """The module of ``client``'s HTTP library (httpx2, or httpx)."""
    return (
        httpx2 if isinstance(client, (httpx2.AsyncClient, httpx2.Client)) else sys.modules["httpx"]
    )


def _translate(exc: BaseException) -> BaseException:
    """An httpx error as httpx2's of the same name (what providers catch and translate)."""
    if isinstance(exc, httpx2.HTTPError):
        return exc
    kind = getattr(httpx2, type(exc).__name__, None)
    if isinstance(kind, type) and issubclass(kind, httpx2.RequestError):
        return kind(str(exc))
    timeout = isinstance(exc, sys.modules["httpx"].TimeoutException)
    return (httpx2.TimeoutException if timeout else httpx2.TransportError)(str(exc))


def _timeout(library: Any, timeout: httpx2.Timeout) -> Any:
    return timeout if library is httpx2 else library.Timeout(**timeout.as_dict())


class _HttpxAsync:
    """An ``httpx.AsyncClient`` answering as an ``httpx2.AsyncClient`` does."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._httpx = _library(client)

    @property
    def headers(self) -> Any:
        return self._client.headers

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: httpx2.Timeout,
    ) -> AsyncIterator[Any]:
        try:
            async with self._client.stream(
                method,
                url,
                content=content,
                headers=headers,
                params=params,
                timeout=_timeout(self._httpx, timeout),
            ) as response:
                yield response  # same API as httpx2.Response; errors reading it land below
        except self._httpx.HTTPError as exc:
            raise _translate(exc) from exc

    async def aclose(self) -> None:
        """The caller's client: the caller closes it."""


class _Threaded:
    """A sync ``httpx2.Client`` / ``httpx.Client`` sending on worker threads."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._library = _library(client)

    @property
    def headers(self) -> Any:
        return self._client.headers

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: httpx2.Timeout,
    ) -> AsyncIterator[httpx2.Response]:
        request = self._client.build_request(
            method,
            url,
            content=content,
            headers=headers,
            params=params,
            timeout=_timeout(self._library, timeout),
        )
        raw = await _ThreadedBody.send(self._client, request, self._library.HTTPError)
        body = _ThreadedBody(raw, self._library.HTTPError)
        response = httpx2.Response(raw.status_code, headers=raw.headers.raw, stream=body)
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """The caller's client: the caller closes it."""


class _ThreadedBody(httpx2.AsyncByteStream):
    """A sync response's raw body read on worker threads. Closed by whoever is last: the
    caller's ``aclose``, or the thread still reading when the caller left."""

    def __init__(self, response: Any, errors: type[Exception]) -> None:
        self._response = response
        self._pieces = response.iter_raw()
        self._errors = errors
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False

    @staticmethod
    async def send(client: Any, request: Any, errors: type[Exception]) -> Any:
        """``client.send(request, stream=True)`` on a thread; a response that arrives after
        the caller left is closed by that thread."""
        lock = threading.Lock()
        box: list[Any] = []  # the response, once it arrived while the caller still waited
        left: list[bool] = []  # the caller stopped waiting

        def run() -> Any:
            response = client.send(request, stream=True)
            with lock:
                if left:
                    response.close()
                else:
                    box.append(response)
            return response

        try:
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except errors as exc:
            raise _translate(exc) from exc
        except BaseException:
            with lock:
                left.append(True)
                late = box[:]
            for response in late:
                response.close()
            raise

    def _next(self) -> bytes | None:
        try:
            return next(self._pieces, None)
        finally:
            with self._lock:
                self._reading = False
                if self._closed:  # the caller left while this thread read
                    self._response.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._reading = True
            try:
                piece = await anyio.to_thread.run_sync(self._next, abandon_on_cancel=True)
            except self._errors as exc:
                raise _translate(exc) from exc
            if piece is None:
                return
            yield piece

    async def aclose(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reading:
                return  # the reading thread closes it when its read returns
        self._response.close()  # releases the connection: quick, no I/O wait
