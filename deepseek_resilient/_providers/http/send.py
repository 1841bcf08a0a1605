"""Sending one request and streaming its answer, on an ``httpx2.AsyncClient``.

A client the caller passed (``http_client=``) is used as given: ``client.stream(...)``, with
its auth, event hooks, cookies and redirects. A client the provider built itself has none of
those, so its requests go straight to the transport the client maps their URL to (its pool,
or the proxy its environment names), with the client's default headers merged once: the same
bytes on the wire, without the client's per-request machinery (about a sixth of the CPU of
a call, measured in ``benchmarks/hot_path.md``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from ..._core.lazy import LazyModule, running_asyncio_loop
from .body import DRAIN_BYTES, DRAIN_SECONDS
from .body import drain as body_drain

if TYPE_CHECKING:
    import asyncio

    import httpx2

    from .foreign import AsyncHTTP
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = ["Sender", "drain"]

#: A URL parsed, its transport, and the headers of a request with a body to it.
_Target = tuple["httpx2.URL", Any, "httpx2.Headers"]
#: Headers httpx2 places itself: a call that sets one gets its request built the usual way.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})


class Sender:
    """Streams requests on ``http``: straight to its transport when ``owned``."""

    __slots__ = ("_base_headers", "_direct", "_http", "_urls", "_with")

    def __init__(self, http: AsyncHTTP, *, owned: bool) -> None:
        self._http = http
        # The transport for a URL is found through the client (mounts, environment proxies):
        # a private method of httpx2; without it, every request goes through the client.
        self._direct = owned and hasattr(http, "_transport_for_url")
        self._base_headers = {k.lower(): v for k, v in http.headers.items()}
        self._urls: dict[str, _Target | None] = {}
        #: Prepared headers with a call's own set over them, by (target, headers).
        self._with: dict[tuple[object, ...], tuple[_Target, httpx2.Headers]] = {}

    def stream(
        self,
        method: str,
        url: str,
        *,
        timeout: httpx2.Timeout,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[httpx2.Response]:
        """The response with its body unread; closed when the block ends."""
        target = self._target(url) if self._direct else None
        if target is None:
            return self._http.stream(
                method, url, content=content, headers=headers, params=params, timeout=timeout
            )
        return self._send(method, target, timeout, content, headers, params)

    def _send(
        self,
        method: str,
        found: _Target,
        timeout: httpx2.Timeout,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
    ) -> _Sent:
        target, transport, prepared = found
        if params:
            target = target.copy_merge_params(params)
        extensions = {"timeout": timeout.as_dict()}
        if not content or (headers and not _OWN_HEADERS.isdisjoint(map(str.lower, headers))):
            merged = self._base_headers
            if headers:
                merged = {**merged, **{k.lower(): v for k, v in headers.items()}}
            request = httpx2.Request(
                method, target, headers=merged, content=content, extensions=extensions
            )
        else:
            if headers:
                prepared = self._prepared_with(found, headers)
            request = _with_body(method, target, prepared, None, content, extensions)
        return _Sent(transport, request)

    def _prepared_with(self, found: _Target, headers: Mapping[str, str]) -> httpx2.Headers:
        """The headers a request with a body to ``found`` starts from, with ``headers`` set
        over them (kept for the few sets of headers a provider sends: a stream's ``Accept``)."""
        key = (id(found), *headers.items())
        kept = self._with.get(key)
        if kept is not None and kept[0] is found:  # (an id is reused only once freed)
            return kept[1]
        prepared = httpx2.Headers(found[2])
        for name, value in headers.items():
            prepared[name.lower()] = value
        if len(self._with) < 64:
            self._with[key] = (found, prepared)
        return prepared

    def _target(self, url: str) -> _Target | None:
        """``url`` parsed, the transport the client sends it through, and the headers every
        request with a body to it starts from (all kept); None for a URL with credentials
        in it (the client turns those into Basic auth)."""
        if url in self._urls:
            return self._urls[url]
        parsed = httpx2.URL(url)
        transport_for = self._http._transport_for_url  # type: ignore[attr-defined]
        found = None
        if not parsed.userinfo:
            # The headers httpx2 builds for a request with a body (``Host`` first, then the
            # client's), less the body's length, which each request adds.
            probe = httpx2.Request("POST", parsed, headers=self._base_headers, content=b"-")
            raw = [(k, v) for k, v in probe.headers.raw if k.lower() != b"content-length"]
            found = (parsed, transport_for(parsed), httpx2.Headers(raw))
        if len(self._urls) < 64:  # a provider has two or three URLs
            self._urls[url] = found
        return found


class _Sent(contextlib.AbstractAsyncContextManager["httpx2.Response"]):
    """``async with``: ``request`` sent on ``transport``, its response (body unread) closed
    when the block ends (a class: no generator-based context manager per request)."""

    __slots__ = ("_request", "_response", "_transport")

    def __init__(self, transport: Any, request: httpx2.Request) -> None:
        self._transport, self._request = transport, request
        self._response: httpx2.Response | None = None

    async def __aenter__(self) -> httpx2.Response:
        response = await self._transport.handle_async_request(self._request)
        response.request = self._request
        self._response = response
        return response  # type: ignore[no-any-return]

    async def __aexit__(self, *exc: object) -> None:
        assert self._response is not None
        await self._response.aclose()


def _with_body(
    method: str,
    target: httpx2.URL,
    prepared: httpx2.Headers,
    headers: Mapping[str, str] | None,
    content: bytes,
    extensions: dict[str, Any],
) -> httpx2.Request:
    """The request ``httpx2.Request(method, target, headers=..., content=content)`` builds,
    header for header and in the same order, from headers prepared once per URL: a copy
    and one header, where httpx2 would normalise every header of every request again."""
    merged = httpx2.Headers(prepared)
    if headers:
        for key, value in headers.items():
            merged[key.lower()] = value
    merged["Content-Length"] = str(len(content))
    stream = httpx2.ByteStream(content)
    request = httpx2.Request(method, target, headers=merged, stream=stream, extensions=extensions)
    request.read()  # ``request.content`` readable, as after ``content=``
    return request


async def drain(pieces: AsyncIterator[bytes]) -> None:
    """``body.drain``: read what is left of a body after a stream's ``[DONE]``, within
    ``DRAIN_BYTES`` and ``DRAIN_SECONDS``, errors ignored. On asyncio (3.11+) its first step
    is taken at once, by hand: when the end of the body came with the last event, that step
    ends the body and no timer is set at all. A step that has to wait is awaited from where
    it stopped, the rest read after it, within the time limit of a plain loop timer that
    cancels the task (``asyncio.timeout``'s way, no cancel scope: a scope entered now would
    sit inside any the first step entered and left open)."""
    loop = _asyncio_loop()
    if loop is None or not hasattr(pieces, "asend"):  # trio, 3.10, not an async generator
        return await body_drain(pieces)
    step: Any = pieces.__anext__()
    size = 0
    try:
        waiting = step.send(None)
    except StopAsyncIteration:
        return  # the body has ended
    except StopIteration as done:  # a piece came at once
        size, waiting = len(done.value), _DONE
    except Exception:
        return
    with _Cut(loop, DRAIN_SECONDS):
        try:
            if waiting is not _DONE:
                size += len(await _Resumed(step, waiting))
            while size <= DRAIN_BYTES:
                size += len(await pieces.__anext__())
        except Exception:  # the end (StopAsyncIteration), or a failure: the answer is in
            return


_DONE = object()


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, where tasks can be uncancelled (3.11+); else None."""
    return running_asyncio_loop() if sys.version_info >= (3, 11) else None


def _cancelled() -> type[BaseException]:
    import asyncio  # (loaded: its loop is running)

    return asyncio.CancelledError


class _Cut:
    """``with _Cut(loop, seconds)``: the task is cancelled once ``seconds`` pass, and that
    cancellation (only: not a caller's, nor a cancel scope's) ends the block quietly, as
    ``asyncio.timeout`` does (3.11+: ``Task.uncancel``)."""

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        import asyncio  # (loaded: its loop is running)

        task = asyncio.current_task(loop)
        assert task is not None
        self._task = task
        self._cancelling: int = task.cancelling()  # type: ignore[attr-defined]  # (3.11+)
        self._fired = False
        self._handle = loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __enter__(self) -> _Cut:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> bool:
        self._handle.cancel()
        if self._fired and exc_type is not None and issubclass(exc_type, _cancelled()):
            left: int = self._task.uncancel()  # type: ignore[attr-defined]
            return left <= self._cancelling
        return False


class _Resumed(Awaitable[bytes]):
    """A started awaitable (``step``, which yielded ``waiting`` to the event loop) awaited
    on from where it stopped: what ``await`` does, for a first step taken by hand."""

    __slots__ = ("_step", "_waiting")

    def __init__(self, step: Any, waiting: Any) -> None:
        self._step, self._waiting = step, waiting

    def __await__(self) -> Generator[Any, Any, bytes]:
        step, out = self._step, self._waiting
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # (a cancellation): thrown where the step waits
                try:
                    out = step.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                out = step.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
