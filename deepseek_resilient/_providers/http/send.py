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
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ..._core.lazy import LazyModule

if TYPE_CHECKING:
    import httpx2

    from .foreign import AsyncHTTP
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = ["Sender"]


class Sender:
    """Streams requests on ``http``: straight to its transport when ``owned``."""

    __slots__ = ("_base_headers", "_direct", "_headers", "_http", "_urls")

    def __init__(self, http: AsyncHTTP, *, owned: bool) -> None:
        self._http = http
        # The transport for a URL is found through the client (mounts, environment proxies):
        # a private method of httpx2; without it, every request goes through the client.
        self._direct = owned and hasattr(http, "_transport_for_url")
        self._base_headers = {k.lower(): v for k, v in http.headers.items()}
        self._urls: dict[str, tuple[httpx2.URL, Any] | None] = {}
        # The headers of a request with a body, as httpx2 would build them but without the
        # body's length, per (host, call headers): built once, copied per request.
        self._headers: dict[tuple[str, tuple[tuple[str, str], ...]], httpx2.Headers | None] = {}

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

    @contextlib.asynccontextmanager
    async def _send(
        self,
        method: str,
        found: tuple[httpx2.URL, Any],
        timeout: httpx2.Timeout,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
    ) -> AsyncIterator[httpx2.Response]:
        target, transport = found
        if params:
            target = target.copy_merge_params(params)
        request = self._request(method, target, timeout, content, headers)
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()

    def _request(
        self,
        method: str,
        target: httpx2.URL,
        timeout: httpx2.Timeout,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx2.Request:
        """The request httpx2 builds for these arguments (``Host``, the headers, then
        ``Content-Length``: the same headers in the same order), from headers prepared once."""
        extensions = {"timeout": timeout.as_dict()}
        prepared = None if content is None else self._prepared(target, headers)
        if prepared is None:
            merged = self._base_headers
            if headers:
                merged = {**merged, **{k.lower(): v for k, v in headers.items()}}
            return httpx2.Request(
                method, target, headers=merged, content=content, extensions=extensions
            )
        assert content is not None
        request = httpx2.Request(
            method,
            target,
            headers=prepared,  # copied by the request
            stream=httpx2.ByteStream(content),
            extensions=extensions,
        )
        request.headers["Content-Length"] = str(len(content))
        request.read()  # as for ``content=``: ``request.content`` is readable
        return request

    def _prepared(
        self, target: httpx2.URL, headers: Mapping[str, str] | None
    ) -> httpx2.Headers | None:
        """The headers of a request with a body to ``target``'s host, without its length;
        None when the call's headers set the framing themselves (built the usual way)."""
        try:
            key = (target.netloc.decode("ascii"), tuple(headers.items()) if headers else ())
            if key in self._headers:
                return self._headers[key]
        except (TypeError, UnicodeDecodeError):  # not hashable: built the usual way
            return None
        prepared: httpx2.Headers | None
        merged = self._base_headers
        if headers:
            merged = {**merged, **{k.lower(): v for k, v in headers.items()}}
        if "content-length" in merged or "transfer-encoding" in merged:
            prepared = None
        else:
            # httpx2's own Host header for this URL (a request with no body adds nothing else)
            host = httpx2.Request("GET", target).headers.raw[0]
            auto = [] if "host" in merged else [host]
            prepared = httpx2.Headers([*auto, *merged.items()])
        if len(self._headers) < 64:  # a provider sends a few header sets
            self._headers[key] = prepared
        return prepared

    def _target(self, url: str) -> tuple[httpx2.URL, Any] | None:
        """``url`` parsed, and the transport the client sends it through (both kept); None
        for a URL with credentials in it (the client turns those into Basic auth)."""
        if url in self._urls:
            return self._urls[url]
        parsed = httpx2.URL(url)
        transport_for = self._http._transport_for_url  # type: ignore[attr-defined]
        found = None if parsed.userinfo else (parsed, transport_for(parsed))
        if len(self._urls) < 64:  # a provider has two or three URLs
            self._urls[url] = found
        return found
